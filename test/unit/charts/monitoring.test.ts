// The chart's monitoring: the PrometheusRule passes `promtool check rules` and its alerts fire in
// `promtool test rules`; the Grafana dashboard parses and every query names a metric weft defines;
// the toggles, NOTES.txt and the production example's injector scrape port.
import { REQUEST_SERIES } from '../../../mesh/metrics/vocabulary.js';
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { PRODUCTION_FOLDERS } from '../../support/source-tree.js';
import { CHART_DIR, find, helmBinary, helmTemplate, type Doc } from './helm.js';

const ALL_ON = { gateway: { enabled: true }, monitoring: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } } };
const dir = mkdtempSync(join(tmpdir(), 'weft-chart-monitoring-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]): { status: number; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: dir });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The rule groups of the rendered PrometheusRule, as a Prometheus rule file. */
function ruleFile(values: Record<string, unknown> = ALL_ON): string {
  const rule = find(helmTemplate(values), 'PrometheusRule', 'weft');
  const file = join(dir, 'weft-rules.yaml');
  writeFileSync(file, stringify({ groups: rule?.spec.groups }));
  return file;
}

/** Metric names defined in the production code (prom-client constructors), histograms apart. */
function definedMetrics(): { names: Set<string>; histograms: Set<string> } {
  const root = new URL('../../../', import.meta.url).pathname;
  const walk = (d: string): string[] => readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? walk(join(d, e)) : e.endsWith('.ts') ? [join(d, e)] : []));
  const names = new Set<string>();
  const histograms = new Set<string>();
  for (const f of PRODUCTION_FOLDERS.flatMap((d) => walk(join(root, d)))) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/new (Counter|Gauge|Histogram|Summary)\b[^(]*\(\{\s*name:\s*'(weft_[a-z0-9_]+)'/g)) {
      names.add(m[2] as string);
      if (m[1] === 'Histogram') histograms.add(m[2] as string);
    }
    // The proxy's hot-path series (proxy/request-series.ts), published to prom-client at scrape time.
    for (const m of src.matchAll(/new Plain(Counter|Histogram)\([^,]+,\s*'(weft_[a-z0-9_]+)'/g)) {
      names.add(m[2] as string);
      if (m[1] === 'Histogram') histograms.add(m[2] as string);
    }
  }
  // The per-request series both the proxy and the gateway register under the vocabulary's names.
  for (const name of Object.values(REQUEST_SERIES)) names.add(name);
  histograms.add(REQUEST_SERIES.latency);
  return { names, histograms };
}

/** Problems with the weft metric names one PromQL expression uses. */
function unknownMetrics(expr: string, defined: ReturnType<typeof definedMetrics>): string[] {
  const used = [...expr.matchAll(/\bweft_[a-z0-9_]+/g)].map((m) => m[0]);
  if (used.length === 0) return [`${expr}: names no weft metric`];
  return used.flatMap((name) => {
    if (defined.names.has(name)) return [];
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (base !== name && defined.histograms.has(base)) return [];
    return [`${name} is not a metric weft defines`];
  });
}

t.test('monitoring objects are off by default and each toggle adds its own', async (t) => {
  const plain = helmTemplate();
  t.notOk(plain.docs.some((d) => String(d.apiVersion).startsWith('monitoring.coreos.com/') || d.metadata?.name === 'weft-dashboard'), 'nothing by default');
  const on = helmTemplate(ALL_ON);
  t.same(on.docs.filter((d) => String(d.apiVersion).startsWith('monitoring.coreos.com/')).map((d) => `${String(d.kind)}/${String(d.metadata.name)}`).sort(),
    ['PodMonitor/weft-components', 'PodMonitor/weft-proxies', 'PrometheusRule/weft', 'ServiceMonitor/weft-injector']);
  const proxies = find(on, 'PodMonitor', 'weft-proxies');
  t.same(proxies?.spec.podMetricsEndpoints[0].port, 'weft-admin', 'the port name the injector gives the proxy');
  t.same(proxies?.spec.namespaceSelector, { any: true });
  const only = helmTemplate({ monitoring: { serviceMonitor: { enabled: true }, labels: { release: 'kube-prometheus-stack' } } });
  const sm = find(only, 'ServiceMonitor', 'weft-injector');
  t.equal(sm?.metadata.labels.release, 'kube-prometheus-stack', 'monitoring.labels reach the monitor');
  t.same([sm?.spec.endpoints[0].port, sm?.spec.endpoints[0].scheme], ['https', 'https']);
  t.notOk(find(only, 'PodMonitor', 'weft-proxies'), 'podMonitor stays off');
});

t.test('the injector serves /metrics on its HTTPS webhook port and its plain admin port, and the monitors scrape ports that exist', async (t) => {
  const r = helmTemplate(ALL_ON);
  const injector = find(r, 'Deployment', 'weft-injector')?.spec.template.spec.containers[0] as Doc;
  t.same((injector.ports as Doc[]).map((p) => p.name), ['https', 'admin'], 'the webhook port and the plain admin port');
  const server = readFileSync(new URL('../../../injector/server.ts', import.meta.url), 'utf8');
  t.match(server, /app\.get\('\/metrics'/, "the injector's one server answers /metrics");
  const sm = find(r, 'ServiceMonitor', 'weft-injector');
  const svc = find(r, 'Service', 'weft-injector');
  t.ok((svc?.spec.ports as Doc[]).some((p) => p.name === sm?.spec.endpoints[0].port), 'the ServiceMonitor names a port of the injector Service');
  t.same(svc?.spec.selector, find(r, 'Deployment', 'weft-injector')?.spec.selector.matchLabels);
  for (const name of ['weft-ca', 'weft-destination', 'weft-gateway']) {
    const ports = (find(r, 'Deployment', name)?.spec.template.spec.containers[0].ports as Doc[]).map((p) => p.name);
    t.ok(ports.includes(find(r, 'PodMonitor', 'weft-components')?.spec.podMetricsEndpoints[0].port), `${name} has the admin port the PodMonitor scrapes`);
  }
});

t.test("the production example's injector scrape annotations name the port that serves its metrics", async (t) => {
  const example = parse(readFileSync(`${CHART_DIR}/examples/production.yaml`, 'utf8')) as Record<string, unknown>;
  const r = helmTemplate(example);
  const pod = find(r, 'Deployment', 'weft-injector')?.spec.template;
  const ann = pod?.metadata.annotations as Record<string, string>;
  const https = (pod?.spec.containers[0].ports as Doc[]).find((p) => p.name === 'https');
  t.equal(ann['prometheus.io/port'], String(https?.containerPort), 'the HTTPS port, not 7020');
  t.equal(ann['prometheus.io/scheme'], 'https');
});

t.test('the PrometheusRule passes promtool check rules', async (t) => {
  const file = ruleFile();
  const check = promtool('check', 'rules', file);
  t.equal(check.status, 0, check.out);
  t.match(check.out, /SUCCESS: 4 rules found/);
  const alerts = parse(readFileSync(file, 'utf8')) as { groups: { rules: { alert: string }[] }[] };
  t.same(alerts.groups.flatMap((g) => g.rules.map((x) => x.alert)), ['WeftProxyCertificateExpiringSoon', 'WeftIssuerExpiringSoon', 'WeftProxyHighErrorRate', 'WeftInjectorFailures']);
  // The check can fail: a broken expression is refused.
  writeFileSync(join(dir, 'broken.yaml'), stringify({ groups: [{ name: 'x', rules: [{ alert: 'Broken', expr: 'sum(rate(weft_requests_total[5m])' }] }] }));
  t.not(promtool('check', 'rules', join(dir, 'broken.yaml')).status, 0, 'promtool refuses a broken rule');
});

t.test('the alerts fire on the series they watch (promtool test rules)', async (t) => {
  ruleFile({ monitoring: { prometheusRule: { enabled: true, errorRatio: 0.1, issuerExpiryDays: 30 } } });
  const tests = {
    rule_files: ['weft-rules.yaml'],
    evaluation_interval: '1m',
    tests: [{
      interval: '1m',
      input_series: [
        { series: 'weft_responses_total{namespace="shop",service="orders",status_code="200"}', values: '0+60x40' },
        { series: 'weft_responses_total{namespace="shop",service="orders",status_code="503"}', values: '0+30x40' },
        { series: 'weft_responses_total{namespace="shop",service="web",status_code="200"}', values: '0+60x40' },
        { series: 'weft_injector_reviews_total{result="rejected"}', values: '0+1x40' },
        { series: 'weft_injector_reviews_total{result="injected"}', values: '0+5x40' },
        // Expires 10 days after the test's epoch: inside the 30-day warning.
        { series: 'weft_ca_issuer_expiry_timestamp_seconds{pod="weft-ca-0"}', values: '864000x200' },
        { series: 'weft_certificate_expiry_timestamp_seconds{namespace="shop",pod="orders-1"}', values: '86400x40' },
      ],
      alert_rule_test: [
        { eval_time: '30m', alertname: 'WeftProxyHighErrorRate', exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'shop', service: 'orders' }, exp_annotations: { summary: 'more than 0.1 of responses for shop/orders are 5xx', description: 'The error_code label of weft_responses_total names the failure (docs/errors.md).' } }] },
        { eval_time: '30m', alertname: 'WeftInjectorFailures', exp_alerts: [{ exp_labels: { severity: 'warning' }, exp_annotations: { summary: 'the weft injector is refusing pods', description: "Rejected reviews are pods that could not be created with a proxy; the injector's log names each pod and reason." } }] },
        { eval_time: '90m', alertname: 'WeftIssuerExpiringSoon', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: { summary: 'the weft issuer certificate expires in less than 30 days', description: 'Rotate the issuer before it expires: no pod certificate can be issued after that (docs/rotate-trust.md).' } }] },
        // 24 h left on the proxy's certificate: no alert (6 h threshold).
        { eval_time: '30m', alertname: 'WeftProxyCertificateExpiringSoon', exp_alerts: [] },
      ],
    }],
  };
  writeFileSync(join(dir, 'weft-rules.test.yaml'), stringify(tests));
  const run = promtool('test', 'rules', 'weft-rules.test.yaml');
  t.equal(run.status, 0, run.out);
  t.match(run.out, /SUCCESS/);
});

t.test('the Grafana dashboard parses, ships in a labelled ConfigMap, and every query names a metric weft defines', async (t) => {
  const defined = definedMetrics();
  t.ok(defined.names.size > 30, `${defined.names.size} metrics defined in the code`);
  t.ok(defined.histograms.has('weft_response_latency_seconds'), 'histograms are told apart');
  const cm = find(helmTemplate(ALL_ON), 'ConfigMap', 'weft-dashboard');
  t.equal(cm?.metadata.labels.grafana_dashboard, '1', 'the label the Grafana sidecar looks for');
  const dashboard = JSON.parse(String(cm?.data['weft.json'])) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query?: string }[] } };
  t.same(dashboard, JSON.parse(readFileSync(`${CHART_DIR}/files/weft-dashboard.json`, 'utf8')), 'the ConfigMap holds files/weft-dashboard.json');
  const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)), ...dashboard.templating.list.flatMap((v) => (v.query?.includes('(') ? [v.query] : []))];
  t.ok(exprs.length >= 10, `${exprs.length} queries`);
  for (const e of exprs) t.same(unknownMetrics(e, defined), [], e);
  t.same(unknownMetrics('rate(weft_no_such_thing_total[5m])', defined), ['weft_no_such_thing_total is not a metric weft defines'], 'the check can fail');
  for (const rule of (find(helmTemplate(ALL_ON), 'PrometheusRule', 'weft')?.spec.groups as { rules: { expr: string }[] }[]).flatMap((g) => g.rules)) {
    t.same(unknownMetrics(rule.expr, defined), [], `alert: ${rule.expr}`);
  }
  const off = helmTemplate({ monitoring: { dashboard: { enabled: true, labels: { grafana_dashboard: 'weft' }, namespace: 'monitoring' } } });
  t.same([find(off, 'ConfigMap', 'weft-dashboard')?.metadata.namespace, find(off, 'ConfigMap', 'weft-dashboard')?.metadata.labels.grafana_dashboard], ['monitoring', 'weft']);
});

t.test('NOTES.txt says how to check the install and whether the gateway is on', async (t) => {
  const run = (values: string[]): string => {
    const r = spawnSync(helmBinary(), ['install', 'weft', CHART_DIR, '--dry-run=client', '--namespace', 'weft-system', ...values], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    return r.stdout.slice(r.stdout.indexOf('NOTES:'));
  };
  const notes = run([]);
  t.match(notes, /weft check/);
  t.match(notes, /kubectl label namespace <name> weft\.dev\/inject=enabled/);
  t.match(notes, /The edge gateway is off \(the default\)/);
  t.notMatch(notes, /gateway is ON/);
  const on = run(['--set', 'gateway.enabled=true']);
  t.match(on, /The edge gateway is ON \(Service weft-gateway, type LoadBalancer\)/);
});
