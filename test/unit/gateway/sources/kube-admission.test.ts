// The API-server route source judges objects one at a time: another class's objects are ignored,
// an unusable object is rejected alone (logged once per version, kept as a condition) while the
// rest keeps serving and updating, a listener whose Secret is not issued yet waits for it, and
// kinds the server does not serve are empty collections picked up when they appear.
import t, { type Test } from 'tap';
import { Counter, Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../../lib/kube/config.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { KubeRoutes, ROUTE_RESOURCES } from '../../../../gateway/sources/kube-routes.js';
import { StateLoader } from '../../../../gateway/sources/route-file.js';
import { createGatewayMetrics } from '../../../../gateway/metrics.js';
import type { GatewayState } from '../../../../gateway/state.js';
import { makeWebCa } from '../../../support/web-pki.js';

const GW_API = 'gateway.networking.k8s.io/v1';

const httpRoute = (name: string, host: string, extra: Record<string, unknown> = {}, parent = 'edge'): KubeObject => ({
  apiVersion: GW_API,
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'shop' },
  spec: { parentRefs: [{ name: parent }], hostnames: [host], rules: [{ backendRefs: [{ name: name, port: 80 }], ...extra }] },
});

const extensionRef = { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Magic', name: 'm' } }] };

async function until(what: string, check: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(t: Test, api: TestApiServer): Promise<{ states: GatewayState[]; lines: string[]; source: KubeRoutes; latest: () => GatewayState | undefined }> {
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', name: 'test', destination: { write: (s: string) => void lines.push(s) } });
  const states: GatewayState[] = [];
  const loader = new StateLoader({ log: logger, metrics: createGatewayMetrics(registry), apply: (s) => states.push(s) });
  const restarts = new Counter({ name: 'weft_kube_watch_restarts_total', help: 'r', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const source = new KubeRoutes({ client, loader, logger, restarts, debounceMs: 20 });
  t.teardown(async () => {
    await source.stop();
    client.close();
    await api.stop();
  });
  source.start();
  return { states, lines, source, latest: () => states[states.length - 1] };
}

function backendFor(s: GatewayState | undefined, host: string, protocol: 'HTTP' | 'HTTPS' = 'HTTP'): string | undefined {
  const d = s?.table.lookup(protocol, { host, path: '/', method: 'GET', headers: {}, query: new URLSearchParams() });
  return d?.kind === 'matched' && d.rule.backends[0]?.kind === 'service' ? d.rule.backends[0].ref.name : undefined;
}

t.test('an unusable object is rejected alone; another class is not judged; a Secret issued later is picked up', async (t) => {
  const api = await TestApiServer.start();
  for (const r of ROUTE_RESOURCES.filter((x) => x.resource === 'referencegrants' || x.group === 'weft.dev')) {
    api.addResource({ group: r.group, version: r.version, resource: r.resource, singular: r.kind.toLowerCase(), kind: r.kind, namespaced: true });
  }
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  api.apply({
    apiVersion: GW_API,
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: 'shop' },
    spec: {
      gatewayClassName: 'weft',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
        { name: 'https', port: 443, protocol: 'HTTPS', hostname: 'secure.example.com', tls: { certificateRefs: [{ name: 'not-yet' }] } },
      ],
    },
  });
  // Another team's controller: a TLS passthrough listener weft does not support, a Secret it never
  // reads, and an HTTPRoute with an ExtensionRef filter attached only to it.
  api.apply({
    apiVersion: GW_API,
    kind: 'Gateway',
    metadata: { name: 'theirs', namespace: 'shop' },
    spec: { gatewayClassName: 'other-vendor', listeners: [{ name: 'tls', port: 8443, protocol: 'TLS', tls: { mode: 'Passthrough', certificateRefs: [{ name: 'their-cert' }] } }] },
  });
  api.apply(httpRoute('their-route', 'theirs.test', extensionRef, 'theirs'));
  api.apply(httpRoute('old', 'old.test'));
  api.apply(httpRoute('broken', 'broken.test', extensionRef));
  api.apply({
    apiVersion: 'weft.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: { name: 'bad-limit', namespace: 'shop' },
    spec: { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'old' }, requests: -3, window: '1m' },
  });
  const { states, lines, latest } = await start(t, api);
  await until('first state', () => states.length >= 1);
  const first = latest();
  t.equal(backendFor(first, 'old.test'), 'old', 'a valid route serves next to the bad objects');
  t.equal(backendFor(first, 'broken.test'), undefined, 'the route with an ExtensionRef filter is not served');
  t.equal(backendFor(first, 'theirs.test'), undefined, "another class's route is not served");
  const labels = (s: GatewayState | undefined): string[] => (s?.conditions ?? []).map((c) => `${c.type} ${c.kind} ${c.namespace}/${c.name}`).sort();
  t.same(labels(first), ['Degraded Gateway shop/edge', 'Rejected HTTPRoute shop/broken', 'Rejected RateLimitPolicy shop/bad-limit'], "each finding is kept per object; another class's objects have none");
  const broken = first?.conditions.find((c) => c.name === 'broken');
  t.match(broken, { generation: 1, servingPrevious: undefined, reasons: [/spec\.rules\[0\]\.filters\[0\]: ExtensionRef filters are not supported/] });
  t.match(first?.conditions.find((c) => c.kind === 'Gateway')?.reasons, [/spec\.listeners\[1\]\.tls\.certificateRefs\[0\]: Secret shop\/not-yet does not exist.*listener "https" is not served/]);
  t.same(first?.table.certificates, [], 'no certificate yet');
  t.equal(first?.policies.effective(undefined, { kind: 'HTTPRoute', namespace: 'shop', name: 'old', rule: 0, label: '' }).rateLimit, undefined, 'the bad policy is not attached');

  // Other objects keep updating while the bad ones stay.
  api.apply(httpRoute('added', 'added.test'));
  await until('the added route', () => backendFor(latest(), 'added.test') === 'added');
  t.equal(backendFor(latest(), 'old.test'), 'old', 'the pre-existing route keeps serving');
  api.apply(httpRoute('old', 'old.test', { backendRefs: [{ name: 'old-v2', port: 80 }] }));
  await until('the updated route', () => backendFor(latest(), 'old.test') === 'old-v2');
  const logged = (what: string): number => lines.filter((l) => l.includes(what)).length;
  t.equal(logged('HTTPRoute shop/broken rejected'), 1, 'the rejection is logged once for its version, not on every rebuild');
  t.equal(logged('Gateway shop/edge served in part'), 1);
  t.equal(logged('their-route') + logged('shop/theirs'), 0, "another class's objects are never mentioned");

  // A new version of the bad route is judged (and logged) again; once fixed it serves.
  api.apply(httpRoute('broken', 'broken.test', { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Magic', name: 'other' } }] }));
  await until('second rejection logged', () => logged('HTTPRoute shop/broken rejected') === 2);
  t.match(latest()?.conditions.find((c) => c.name === 'broken'), { generation: 2 });
  api.apply(httpRoute('broken', 'broken.test'));
  await until('the fixed route', () => backendFor(latest(), 'broken.test') === 'broken');

  // The certificate is issued: the HTTPS listener is served and its condition is gone.
  const cert = await (await makeWebCa('admission CA')).server(['secure.example.com']);
  api.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'not-yet', namespace: 'shop' },
    data: { 'tls.crt': Buffer.from(cert.certPem).toString('base64'), 'tls.key': Buffer.from(cert.keyPem).toString('base64') },
  });
  // Secrets are read by name, not watched: any route change (or the periodic refresh) reads it.
  api.apply(httpRoute('poke', 'poke.test'));
  await until('the certificate', () => (latest()?.table.certificates.length ?? 0) === 1);
  t.equal(latest()?.table.certificates[0]?.pattern, 'secure.example.com');
  t.equal(backendFor(latest(), 'secure.example.com', 'HTTPS'), undefined, 'no route names that host yet');
  t.same(labels(latest()), ['Rejected RateLimitPolicy shop/bad-limit'], 'only the bad policy is left');
});

t.test('kinds the API server does not serve are empty, said once, and picked up when they appear', async (t) => {
  const api = await TestApiServer.start();
  // ReferenceGrant and weft.dev are not registered (no CRDs); the Gateway API is taken away too.
  const gatewayApi = api.removeResource(GW_API);
  t.same(gatewayApi.map((d) => d.resource).sort(), ['gateways', 'grpcroutes', 'httproutes']);
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  api.apply({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'legacy', namespace: 'shop' },
    spec: { ingressClassName: 'weft', rules: [{ host: 'legacy.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'legacy', port: { number: 80 } } } }] } }] },
  });
  const { states, lines, source, latest } = await start(t, api);
  await until('first state', () => states.length >= 1);
  t.ok(source.synced, 'an Ingress-only cluster is synced');
  t.equal(backendFor(latest(), 'legacy.test'), 'legacy', 'and its Ingress serves');
  const absent = ['apikeypolicies.weft.dev', 'bodylimitpolicies.weft.dev', 'cachepolicies.weft.dev', 'consumers.weft.dev', 'corspolicies.weft.dev', 'gateways.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'ipaccesspolicies.weft.dev', 'jwtpolicies.weft.dev', 'plans.weft.dev', 'ratelimitpolicies.weft.dev', 'referencegrants.gateway.networking.k8s.io', 'transformpolicies.weft.dev'];
  t.same(source.absentKinds, absent, 'every missing kind is known');
  const said = lines.filter((l) => l.includes('does not serve this kind'));
  t.equal(said.length, absent.length, 'each missing kind is said once');

  // The Gateway API CRDs are installed later: picked up without a restart.
  api.serveResource(gatewayApi);
  api.apply({ apiVersion: GW_API, kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } });
  api.apply(httpRoute('fresh', 'fresh.test'));
  await until('the new kinds', () => backendFor(latest(), 'fresh.test') === 'fresh', 15_000);
  t.equal(backendFor(latest(), 'legacy.test'), 'legacy', 'the Ingress still serves');
  // Each kind's loop re-checks on its own schedule: the route served proves only httproutes is back.
  const back = absent.filter((k) => !k.endsWith('.gateway.networking.k8s.io') || k.startsWith('referencegrants'));
  await until('every Gateway API kind back', () => JSON.stringify(source.absentKinds) === JSON.stringify(back), 15_000);
  t.same(source.absentKinds, back);
  t.equal(lines.filter((l) => l.includes('does not serve this kind')).length, absent.length, 'a re-check that still finds a kind missing says nothing more');
});
