import t from 'tap';
import fjp from 'fast-json-patch';
import { planInjection, type InjectionInput, type InjectionResult } from '../../../injector/patch.js';
import { applyOperations, escapePointerToken, parsePointer, pointer } from '../../../injector/json-patch.js';
import { DEFAULT_SETTINGS as BARE_SETTINGS } from '../../../injector/settings.js';
import { makeTestPki } from '../../support/pki.js';
import { parseCidrList, parsePortList, parseUpstreams } from '../../../injector/annotations.js';

type Obj = Record<string, unknown>;

const ROOTS = (await makeTestPki()).authority.root.toString('pem') + '\n';
const DEFAULT_SETTINGS = { ...BARE_SETTINGS, trustAnchors: ROOTS };

function pod(annotations?: Record<string, string>, extra: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' }, ...(annotations ? { annotations } : {}) },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx',
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 2 },
        },
      ],
      ...extra,
    },
  };
}

function plan(p: unknown, over: Partial<InjectionInput> = {}): InjectionResult {
  return planInjection({ pod: p, namespace: 'shop', namespaceInjection: 'enabled', settings: DEFAULT_SETTINGS, ...over });
}

function injected(p: unknown, over: Partial<InjectionInput> = {}): Obj {
  const r = plan(p, over);
  if (r.kind !== 'injected') throw new Error(`expected injection, got ${JSON.stringify(r)}`);
  t.equal(fjp.validate(r.patch as fjp.Operation[], structuredClone(p)), undefined, 'fast-json-patch finds the patch valid');
  return applyOperations(p as Obj, r.patch);
}

const spec = (p: Obj): Obj => p['spec'] as Obj;
const containers = (p: Obj, field = 'containers'): Obj[] => (spec(p)[field] as Obj[] | undefined) ?? [];
const byName = (p: Obj, name: string): Obj | undefined =>
  [...containers(p, 'initContainers'), ...containers(p)].find((c) => c['name'] === name);
const env = (c: Obj | undefined): Record<string, unknown> =>
  Object.fromEntries(((c?.['env'] as Obj[]) ?? []).map((e) => [e['name'], e['value'] ?? e['valueFrom']]));

t.test('who is injected', async (t) => {
  t.equal(plan(pod()).kind, 'injected', 'labelled namespace, no annotation');
  const notLabelled = plan(pod(), { namespaceInjection: 'not-enabled' });
  t.equal(notLabelled.kind, 'skipped');
  if (notLabelled.kind === 'skipped') t.match(notLabelled.reason, /namespace shop, which is not labelled weft\.dev\/inject=enabled/);
  t.equal(plan(pod({ 'weft.dev/inject': 'enabled' }), { namespaceInjection: 'not-enabled' }).kind, 'injected', 'pod annotation beats namespace');
  const disabled = plan(pod({ 'weft.dev/inject': 'disabled' }));
  t.equal(disabled.kind, 'skipped');
  if (disabled.kind === 'skipped') t.match(disabled.reason, /shop\/web-1 has annotation weft\.dev\/inject: disabled/);
  const again = plan(pod({ 'weft.dev/injected': 'native-sidecar' }));
  t.match(again, { kind: 'skipped', reason: /already carries annotation weft\.dev\/injected/ });
  t.match(plan(pod(undefined, { hostNetwork: true })), { kind: 'skipped', reason: /hostNetwork/, warnings: [] });
  t.match(plan(pod({ 'weft.dev/inject': 'enabled' }, { hostNetwork: true })), { kind: 'skipped', warnings: [/asks for injection but uses hostNetwork/] });
  const own = pod();
  (own['metadata'] as Obj)['labels'] = { 'app.kubernetes.io/part-of': 'weft' };
  t.match(plan(own), { kind: 'skipped', reason: /part of weft itself/ });
  (own['metadata'] as Obj)['labels'] = { 'weft.dev/component': 'gateway' };
  t.match(plan(own), { kind: 'skipped', reason: /part of weft itself \(label weft\.dev\/component\)/ });
  t.match(plan(pod({ 'weft.dev/inject': 'yes' })), { kind: 'injected', warnings: [/weft\.dev\/inject="yes" is neither enabled nor disabled/] });
  t.match(plan(pod({ 'weft.dev/inject': 'yes' }), { namespaceInjection: 'not-enabled' }), { kind: 'skipped' });
  const clash = pod();
  (spec(clash)['containers'] as Obj[]).push({ name: 'weft-proxy', image: 'x' });
  t.match(plan(clash), { kind: 'skipped', reason: /already has a container named weft-proxy/ });
  t.match(plan(pod(undefined, { volumes: [{ name: 'weft-token', emptyDir: {} }] })), { kind: 'skipped', reason: /volume named weft-token/ });
});

t.test('a template without a name is named by generateName in messages', async (t) => {
  const p = pod({ 'weft.dev/inject': 'disabled' });
  (p['metadata'] as Obj) = { generateName: 'web-7c9-', annotations: { 'weft.dev/inject': 'disabled' } };
  t.match(plan(p), { reason: /shop\/web-7c9-<generated>/ });
  t.match(plan({ spec: { containers: [] }, metadata: { annotations: { 'weft.dev/inject': 'disabled' } } }), { reason: /<unnamed>/ });
});

t.test('a body that is not a pod is rejected with the reason', async (t) => {
  t.match(plan({ spec: {} }), { kind: 'rejected', message: /has no spec\.containers list/ });
  t.match(plan('nope'), { kind: 'rejected' });
});

t.test('what is added in native-sidecar mode', async (t) => {
  const p = injected(pod());
  const init = containers(p, 'initContainers');
  t.same(init.map((c) => c['name']), ['weft-init', 'weft-proxy']);
  const weftInit = init[0] ?? {};
  t.same(weftInit['securityContext'], {
    runAsUser: 0,
    runAsNonRoot: false,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
  });
  t.same(weftInit['args'], ['init']);
  t.match(env(weftInit), { WEFT_PROXY_UID: '7007', WEFT_INBOUND_MODE: 'strict', WEFT_ADMIN_PORT: '7020', WEFT_INIT_APPLY: 'true' });
  const proxy = init[1] ?? {};
  t.equal(proxy['restartPolicy'], 'Always');
  t.same(proxy['startupProbe'], { httpGet: { path: '/ready', port: 7020, scheme: 'HTTP' }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 });
  t.match(proxy['securityContext'], { runAsUser: 7007, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  t.same(env(proxy)['WEFT_POD_NAME'], { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } });
  // The proxy reads neither its pod IP nor an inbound mode (that is weft init's): the injector does not set them.
  t.notOk('WEFT_POD_IP' in env(proxy), 'no WEFT_POD_IP: nothing reads it');
  t.notOk('WEFT_INBOUND_MODE' in env(proxy), 'no WEFT_INBOUND_MODE on the proxy: only weft init reads it');
  t.same(env(proxy)['WEFT_SERVICE_ACCOUNT'], { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.serviceAccountName' } });
  t.match(env(proxy), {
    WEFT_MODE: 'kubernetes',
    WEFT_CA_ADDR: 'https://weft-ca.weft-system.svc:8443',
    // The proxy's only discovery: it holds no API credentials.
    WEFT_DESTINATION_ADDR: 'weft-destination.weft-system.svc:8086',
    WEFT_TRUST_ANCHORS: ROOTS,
    WEFT_TOKEN_FILE: '/var/run/secrets/weft.dev/serviceaccount/token',
  });
  t.same(JSON.parse(String(env(proxy)['WEFT_APP_PROBES'])), { 'web/readiness': { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' } } });
  t.same(proxy['resources'], { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '256Mi' } });
  t.equal(env(proxy)['NODE_OPTIONS'], '--max-old-space-size=102 --max-semi-space-size=8', "V8's heap bounded by 40 % of the 256Mi limit, its semi-spaces by 8 MB");
  t.same(containers(p)[0]?.['readinessProbe'], { httpGet: { path: '/app-probe/web/readiness', port: 7020, scheme: 'HTTP' }, periodSeconds: 2 });
  t.same((spec(p)['volumes'] as Obj[]).map((v) => v['name']), ['weft-token'], 'no per-namespace trust volume');
  t.equal(env(proxy)['WEFT_TRUST_ANCHORS_FILE'], undefined);
  t.notOk('WEFT_DESTINATION_IDENTITY' in env(proxy), 'no destination identity unless the injector has one');
  t.notOk('KUBECONFIG' in env(proxy), 'no API credentials');
  t.same((proxy['volumeMounts'] as Obj[]).map((v) => v['name']), ['weft-token']);
  t.same((p['metadata'] as Obj)['annotations'], { 'weft.dev/injected': 'native-sidecar' });
});

t.test('fallback mode puts the proxy first and holds the app with postStart', async (t) => {
  const p = injected(pod(undefined, { initContainers: [{ name: 'migrate', image: 'm' }] }), {
    settings: { ...DEFAULT_SETTINGS, nativeSidecars: false },
  });
  t.same(containers(p).map((c) => c['name']), ['weft-proxy', 'web']);
  t.same(containers(p, 'initContainers').map((c) => c['name']), ['weft-init', 'migrate']);
  const proxy = containers(p)[0] ?? {};
  t.same(proxy['lifecycle'], { postStart: { exec: { command: ['weft', 'await-proxy', '--timeout-seconds', '120'] } } });
  t.equal(proxy['restartPolicy'], undefined);
  t.equal(proxy['startupProbe'], undefined);
  t.same((p['metadata'] as Obj)['annotations'], { 'weft.dev/injected': 'container', 'kubectl.kubernetes.io/default-container': 'web' });
  t.equal(containers(p)[1]?.['readinessProbe'] !== undefined, true);
});

t.test('annotation keys with / are escaped in JSON pointers', async (t) => {
  t.equal(escapePointerToken('weft.dev/injected'), 'weft.dev~1injected');
  t.equal(escapePointerToken('a~b/c'), 'a~0b~1c');
  t.same(parsePointer(pointer('metadata', 'annotations', 'a~b/c')), ['metadata', 'annotations', 'a~b/c']);
  const r = plan(pod({ 'example.com/owner': 'team-a' }));
  if (r.kind !== 'injected') return t.fail('not injected');
  t.ok(r.patch.some((o) => o.path === '/metadata/annotations/weft.dev~1injected'), 'escaped path used');
  const after = fjp.applyPatch(pod({ 'example.com/owner': 'team-a' }), r.patch as fjp.Operation[]).newDocument;
  t.same((after['metadata'] as Obj)['annotations'], { 'example.com/owner': 'team-a', 'weft.dev/injected': 'native-sidecar' });
  const bare = { spec: { containers: [{ name: 'a', image: 'b' }] } };
  const r2 = plan(bare);
  if (r2.kind !== 'injected') return t.fail('not injected');
  t.same(applyOperations(bare, r2.patch)['metadata' as never], { annotations: { 'weft.dev/injected': 'native-sidecar' } }, 'metadata created when absent');
});

t.test('config.weft.dev annotations reach init and proxy', async (t) => {
  const p = injected(
    pod({
      'config.weft.dev/skip-inbound-ports': ' 9090 , 9100-9110',
      'config.weft.dev/skip-outbound-ports': '5432',
      'config.weft.dev/skip-outbound-cidrs': '10.0.0.0/8, fd00::/8',
      'config.weft.dev/upstreams': 'orders:9001,billing.pay:9002',
      'config.weft.dev/proxy-cpu-request': '100m',
      'config.weft.dev/proxy-cpu-limit': '500m',
      'config.weft.dev/proxy-memory-request': '64Mi',
      'config.weft.dev/proxy-memory-limit': '1Gi',
      'config.weft.dev/log-level': 'debug',
      'config.weft.dev/inbound-mode': 'permissive',
    }),
  );
  t.match(env(byName(p, 'weft-init')), {
    WEFT_SKIP_INBOUND_PORTS: '9090,9100-9110',
    WEFT_SKIP_OUTBOUND_PORTS: '5432',
    WEFT_SKIP_OUTBOUND_CIDRS: '10.0.0.0/8,fd00::/8',
    WEFT_INBOUND_MODE: 'permissive',
  });
  const proxy = byName(p, 'weft-proxy');
  t.match(env(proxy), { WEFT_UPSTREAMS: 'orders:9001,billing.pay:9002', WEFT_LOG_LEVEL: 'debug' });
  t.notOk('WEFT_INBOUND_MODE' in env(proxy), 'the inbound mode annotation reaches weft init (above), not the proxy');
  t.same(proxy?.['resources'], { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '1Gi' } });
});

t.test('bad annotation values reject the whole pod, naming annotation and value', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['skip-inbound-ports', '80,http', /skip-inbound-ports="80,http": entry "http" is not a port/],
    ['skip-outbound-ports', '70000', /skip-outbound-ports="70000": entry "70000" is outside 1-65535/],
    ['skip-outbound-ports', '90-80', /range "90-80" ends before it starts/],
    ['skip-outbound-cidrs', '10.0.0.0', /skip-outbound-cidrs="10.0.0.0": entry "10.0.0.0" is not a CIDR/],
    ['skip-outbound-cidrs', '10.0.0.0/33', /is not a CIDR/],
    ['upstreams', 'orders', /upstreams="orders": entry "orders" is not svc\[\.namespace\]:localPort/],
    ['upstreams', 'orders:7001', /port 7001 belongs to the sidecar/],
    ['upstreams', 'a:9000,b:9000', /local port 9000 is used twice/],
    ['upstreams', 'Orders:9000', /is not a service name/],
    ['proxy-cpu-limit', 'lots', /proxy-cpu-limit="lots": is not a Kubernetes quantity/],
    ['proxy-memory-request', '-1Mi', /proxy-memory-request="-1Mi"/],
    ['inbound-mode', 'permisive', /inbound-mode="permisive": must be strict or permissive/],
  ];
  for (const [name, value, re] of cases) {
    const r = plan(pod({ [`config.weft.dev/${name}`]: value }));
    t.equal(r.kind, 'rejected', `${name}=${value} is rejected`);
    if (r.kind === 'rejected') t.match(r.message, re);
  }
  const many = plan(pod({ 'config.weft.dev/skip-inbound-ports': 'x', 'config.weft.dev/proxy-cpu-limit': 'y' }));
  t.match(many, { kind: 'rejected', message: /skip-inbound-ports="x".*; .*proxy-cpu-limit="y"/ }, 'every problem at once');
  const inverted = plan(pod({ 'config.weft.dev/proxy-memory-request': '1Gi', 'config.weft.dev/proxy-memory-limit': '512Mi' }));
  t.match(inverted, { kind: 'rejected', message: /memory request 1Gi is above its limit 512Mi/ });
  const defaultsLimit = plan(pod({ 'config.weft.dev/proxy-memory-request': '300Mi' }));
  t.match(defaultsLimit, { kind: 'rejected', message: /300Mi is above its limit 256Mi/ }, 'checked against the default limit too');
  const port = pod();
  ((spec(port)['containers'] as Obj[])[0] as Obj)['ports'] = [{ containerPort: 7020 }];
  t.match(plan(port), { kind: 'rejected', message: /container web declares port 7020, which the weft sidecar uses/ });
});

t.test('cosmetic annotations warn and fall back to the default', async (t) => {
  const input = pod({ 'config.weft.dev/log-level': 'chatty', 'config.weft.dev/proxy-colour': 'blue' });
  const r = plan(input);
  t.equal(r.kind, 'injected');
  t.match(r.warnings, [/log-level="chatty" is not one of .*; the default level is used/, /config\.weft\.dev\/proxy-colour is not a weft setting/].reverse());
  if (r.kind !== 'injected') return;
  t.equal(env(byName(applyOperations(input, r.patch), 'weft-proxy'))['WEFT_LOG_LEVEL'], 'info');
});

t.test('probes: named ports, HTTPS, gRPC, TCP; exec, foreign hosts and unknown names stay', async (t) => {
  const p = pod(undefined, {
    containers: [
      {
        name: 'api',
        image: 'api',
        ports: [{ name: 'grpc', containerPort: 9000 }, { name: 'mgmt', containerPort: 8443 }],
        livenessProbe: { httpGet: { path: '/live', port: 'mgmt', scheme: 'HTTPS', httpHeaders: [{ name: 'X', value: '1' }] }, timeoutSeconds: 4 },
        readinessProbe: { grpc: { port: 9000 } },
        startupProbe: { tcpSocket: { port: 'grpc' }, failureThreshold: 30 },
      },
      {
        name: 'side',
        image: 'side',
        livenessProbe: { exec: { command: ['true'] } },
        readinessProbe: { httpGet: { path: '/', port: 80, host: 'example.com' } },
        startupProbe: { httpGet: { path: '/', port: 'nope' } },
      },
    ],
  });
  const r = plan(p);
  if (r.kind !== 'injected') return t.fail('not injected');
  t.match(r.notes, [/side readinessProbe targets host example\.com/, /side startupProbe: port name "nope" is not declared/]);
  const after = applyOperations(p, r.patch);
  const probes = JSON.parse(String(env(byName(after, 'weft-proxy'))['WEFT_APP_PROBES'])) as Obj;
  t.same(probes, {
    'api/liveness': { httpGet: { path: '/live', port: 8443, scheme: 'HTTPS', httpHeaders: [{ name: 'X', value: '1' }] }, timeoutSeconds: 4 },
    'api/readiness': { grpc: { port: 9000, service: '' } },
    'api/startup': { tcpSocket: { port: 9000 } },
  });
  const side = byName(after, 'side');
  const before = (spec(p)['containers'] as Obj[])[1];
  t.same(side, before, 'the side container is untouched');
  t.same(byName(after, 'api')?.['startupProbe'], { httpGet: { path: '/app-probe/api/startup', port: 7020, scheme: 'HTTP' }, failureThreshold: 30 });
});

t.test('planning is deterministic', async (t) => {
  t.same(plan(pod()), plan(pod()));
});

t.test('list parsers normalise or say which entry is wrong', async (t) => {
  t.same(parsePortList(' 1, 2-3 '), { value: '1,2-3' });
  t.same(parsePortList(' , '), { error: 'lists no port' });
  t.same(parseCidrList('::/0'), { value: '::/0' });
  t.match(parseCidrList('1.2.3.4/8/9'), { error: /not a CIDR/ });
  t.same(parseUpstreams('a.b:1'), { value: 'a.b:1' });
  t.match(parseUpstreams('a.b.c:1'), { error: /not a service name/ });
});

t.test('without trust anchors the injector refuses (never a pod that cannot start)', async (t) => {
  for (const trustAnchors of [undefined, '', '  \n']) {
    const r = plan(pod(), { settings: { ...BARE_SETTINGS, trustAnchors } });
    t.match(r, { kind: 'rejected', code: 'WEFT_ERR_INJECT_NO_TRUST_ANCHORS', message: /has no trust anchors \(\/var\/run\/weft\/trust-anchors\/roots\.pem/ });
  }
  // Pods that would not be injected anyway are still let through untouched.
  t.match(plan(pod({ 'weft.dev/inject': 'disabled' }), { settings: BARE_SETTINGS }), { kind: 'skipped' });
  t.match(plan(pod(), { settings: BARE_SETTINGS, namespaceInjection: 'not-enabled' }), { kind: 'skipped' });
});
