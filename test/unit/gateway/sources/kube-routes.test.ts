// The API-server route source against the test API server: it lists and watches every route
// kind, builds a state only once all are listed, follows changes, and refuses a bad object
// while the running routes stay.
import t from 'tap';
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

const route = (backend: string, path = '/'): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { parentRefs: [{ name: 'edge' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: backend, port: 80 }] }] },
});

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('routes and policies follow the API server', async (t) => {
  const api = await TestApiServer.start();
  // ReferenceGrant and weft's policy kinds are custom resources: register them as a CRD would.
  for (const r of ROUTE_RESOURCES.filter((x) => x.resource === 'referencegrants' || x.group === 'weft.dev')) {
    api.addResource({ group: r.group, version: r.version, resource: r.resource, singular: r.kind.toLowerCase(), kind: r.kind, namespaced: true });
  }
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  api.apply({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: 'shop' },
    spec: {
      gatewayClassName: 'weft',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP' },
        { name: 'https', port: 443, protocol: 'HTTPS', hostname: 'shop.example.com', tls: { certificateRefs: [{ name: 'shop-tls' }] } },
      ],
    },
  });
  const cert = await (await makeWebCa('kube test CA')).server(['shop.example.com']);
  api.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'shop-tls', namespace: 'shop' },
    data: { 'tls.crt': Buffer.from(cert.certPem).toString('base64'), 'tls.key': Buffer.from(cert.keyPem).toString('base64') },
  });
  api.apply(route('orders'));
  api.apply({
    apiVersion: 'weft.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: { name: 'limit', namespace: 'shop' },
    spec: { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'web' }, requests: 7, window: '1m' },
  });
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
  await until('first state', () => states.length === 1);
  const backendOf = (s: GatewayState | undefined): string | undefined => {
    const d = s?.table.lookup('HTTP', { host: 'any.test', path: '/x', method: 'GET', headers: {}, query: new URLSearchParams() });
    return d?.kind === 'matched' && d.rule.backends[0]?.kind === 'service' ? d.rule.backends[0].ref.name : undefined;
  };
  t.equal(backendOf(states[0]), 'orders', 'the listed route is served');
  t.same(states[0]?.table.certificates.map((c) => c.pattern), ['shop.example.com'], 'the referenced TLS Secret is read by name');
  t.equal(states[0]?.policies.effective({ namespace: 'shop', name: 'edge' }, { kind: 'HTTPRoute', namespace: 'shop', name: 'web', rule: 0, label: '' }).rateLimit?.value.limit, 7, 'the policy custom resource is attached');

  api.apply(route('payments'));
  await until('second state', () => states.length === 2);
  t.equal(backendOf(states[1]), 'payments', 'an update is followed');

  api.apply(route('payments', 'no-slash'));
  await until('rejection logged', () => lines.some((l) => l.includes('HTTPRoute shop/web rejected; its previous version keeps serving')));
  await until('third state', () => states.length === 3);
  t.equal(backendOf(states[2]), 'payments', 'a bad update is rejected alone: the previous version of that route keeps serving');
  t.ok(lines.some((l) => l.includes('spec.rules[0].matches[0].path.value')), 'the message names the object and field');
  t.match(states[2]?.conditions, [{ kind: 'HTTPRoute', namespace: 'shop', name: 'web', type: 'Rejected', servingPrevious: true, reasons: [/spec\.rules\[0\]\.matches\[0\]\.path\.value/] }], 'the rejection is kept in the state');

  api.delete('gateway.networking.k8s.io/v1', 'HTTPRoute', 'shop', 'web');
  await until('fourth state', () => states.length === 4);
  t.equal(backendOf(states[3]), undefined, 'a deleted route stops serving');
  t.same(states[3]?.conditions, [], 'and its rejection is gone');
});

t.test("Services are read with the routes: an Ingress's named port resolves, and a new Service is followed", async (t) => {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const ingress = (name: string): KubeObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'shop' },
    spec: { ingressClassName: 'weft', rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { name: 'web' } } } }] } }] },
  });
  api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'named', namespace: 'shop', labels: { app: 'named' } }, spec: { type: 'ClusterIP', ports: [{ name: 'web', port: 8080, targetPort: 9000, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' }] } });
  api.apply(ingress('named'));
  api.apply(ingress('later'));
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const registry = new Registry();
  const logger = createLogger({ level: 'warn', name: 'test', destination: { write: () => undefined } });
  const states: GatewayState[] = [];
  const loader = new StateLoader({ log: logger, metrics: createGatewayMetrics(registry), apply: (s) => states.push(s) });
  const restarts = new Counter({ name: 'weft_kube_watch_restarts_total', help: 'r', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const source = new KubeRoutes({ client, loader, logger, restarts, debounceMs: 20 });
  t.teardown(async () => {
    await source.stop();
    client.close();
    await api.stop();
  });
  const backend = (s: GatewayState | undefined, host: string): unknown => {
    const d = s?.table.lookup('HTTP', { host, path: '/', method: 'GET', headers: {}, query: new URLSearchParams() });
    return d?.kind === 'matched' ? d.rule.backends[0] : undefined;
  };
  source.start();
  await until('first state', () => states.length >= 1);
  t.match(backend(states.at(-1), 'named.test'), { kind: 'service', ref: { namespace: 'shop', name: 'named', port: 8080 }, appProtocol: 'kubernetes.io/h2c' }, "the named port is the Service's");
  t.match(backend(states.at(-1), 'later.test'), { kind: 'invalid', reason: /port "web" of Service shop\/later is unknown/ }, 'a Service that does not exist leaves its port unknown');
  t.same(loader.statusSource?.resources.services.map((s) => s.meta.name), ['named'], 'the Service is in the status source');

  api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'later', namespace: 'shop' }, spec: { ports: [{ name: 'web', port: 81 }] } });
  await until('the new Service', () => (backend(states.at(-1), 'later.test') as { kind?: string } | undefined)?.kind === 'service');
  t.match(backend(states.at(-1), 'later.test'), { ref: { name: 'later', port: 81 } }, 'a Service created later is followed');
});
