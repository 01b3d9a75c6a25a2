// The policy registry: every weft.dev kind is one module with its parser and its step, the
// policy steps run in request order, and a kind nobody registered is refused with the message
// and error code the gateway has always used.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { POLICY_KINDS, POLICY_REGISTRY, compilePolicies, policySteps } from '../../../gateway/policies/policy-set.js';
import { RateLimiter } from '../../../gateway/policies/rate-limit.js';
import { parseResources } from '../../../gateway/routes/resources.js';
import { RouteFile, StateLoader } from '../../../gateway/sources/route-file.js';
import { createGatewayMetrics } from '../../../gateway/metrics.js';
import { createLogger } from '../../../lib/logger.js';
import type { GatewayState } from '../../../gateway/state.js';

t.test('every policy kind is registered with its parser and its step', async (t) => {
  t.same([...POLICY_REGISTRY.keys()].sort(), [...POLICY_KINDS].sort(), 'the registry holds exactly the documented kinds');
  for (const kind of POLICY_KINDS) {
    const m = POLICY_REGISTRY.get(kind);
    t.equal(m?.kind, kind, `${kind} is registered under its own name`);
    t.type(m?.parse, 'function', `${kind} has a parser`);
    t.type(m?.step, 'function', `${kind} has a step`);
  }
});

t.test('the policy steps run in request order, one per kind', async (t) => {
  const names = policySteps({ clock: () => 0, readyReplicas: () => 1, limiter: new RateLimiter() }).map((s) => s.name);
  t.same(names, ['IpAccessPolicy', 'CorsPolicy', 'ApiKeyPolicy', 'JwtPolicy', 'RateLimitPolicy', 'BodyLimitPolicy', 'TransformPolicy']);
});

t.test('each kind parses through its own module', async (t) => {
  const doc = (kind: string, spec: string): string => `---
apiVersion: weft.dev/v1alpha1
kind: ${kind}
metadata: { name: p, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: r }, ${spec} }
`;
  const text =
    doc('ApiKeyPolicy', `consumers: [{ name: a, keySha256: "${'0'.repeat(64)}" }]`) +
    doc('JwtPolicy', 'issuer: i, jwks: { keys: [] }') +
    doc('RateLimitPolicy', 'requests: 3, window: 1s') +
    doc('CorsPolicy', 'allowOrigins: ["*"]') +
    doc('IpAccessPolicy', 'deny: [10.0.0.0/8]') +
    doc('BodyLimitPolicy', 'maxBytes: 10') +
    doc('TransformPolicy', 'query: { remove: [debug] }');
  const parsed = parseResources(text, 'p.yaml');
  const set = compilePolicies(parsed.resources.policies, () => '');
  t.same(parsed.problems, []);
  t.equal(set.size, 7);
  const p = set.effective(undefined, { kind: 'HTTPRoute', namespace: 'd', name: 'r', rule: 0, label: '' });
  t.equal(p.apiKey?.value.consumers.get('0'.repeat(64)), 'a');
  t.equal(typeof p.jwt?.value.verify, 'function', 'a JwtPolicy parses into a verifier');
  t.equal(p.rateLimit?.value.windowMs, 1000);
  t.same(p.cors?.value.allowOrigins, ['*']);
  t.equal(p.ipAccess?.value.deny[0]?.text, '10.0.0.0/8');
  t.equal(p.bodyLimit?.value.maxBytes, 10);
  t.equal(p.bodyLimit?.name, 'BodyLimitPolicy d/p');
  t.same(p.transform?.value.query?.remove, ['debug']);
});

const UNKNOWN = `apiVersion: weft.dev/v1alpha1
kind: TeapotPolicy
metadata: { name: tea, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: r } }
`;
const UNKNOWN_MESSAGE =
  'u.yaml: document 1 (TeapotPolicy d/tea): kind: weft.dev/v1alpha1 TeapotPolicy is not a policy kind (ApiKeyPolicy, JwtPolicy, RateLimitPolicy, CorsPolicy, IpAccessPolicy, BodyLimitPolicy, TransformPolicy, CachePolicy)';

t.test('an unknown policy kind is refused with its document and the known kinds', async (t) => {
  const parsed = parseResources(UNKNOWN, 'u.yaml');
  const set = compilePolicies(parsed.resources.policies, () => '');
  t.same(parsed.problems, [UNKNOWN_MESSAGE]);
  t.equal(set.size, 0, 'nothing is attached');
});

t.test('a route file with an unknown policy kind rejects that policy alone (as in kubernetes mode); the routes serve', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'u.yaml');
  const route = (name: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: d }
spec: { parentRefs: [{ name: edge }], hostnames: [${name}.test], rules: [{ backendRefs: [{ name: b, port: 80 }] }] }
`;
  const gateway = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: d }
spec: { gatewayClassName: weft, listeners: [{ name: http, port: 80, protocol: HTTP }] }
`;
  await writeFile(file, UNKNOWN + gateway + route('r') + route('other'));
  const logger = createLogger({ level: 'silent', name: 'test' });
  const applied: GatewayState[] = [];
  const loader = new StateLoader({ log: logger, metrics: createGatewayMetrics(new Registry()), apply: (s) => applied.push(s) });
  const routes = new RouteFile(file, { log: logger, loader, debounceMs: 10 });
  t.teardown(() => routes.close());
  await routes.start();
  const state = applied[0];
  const served = (host: string): boolean => state?.table.lookup('HTTP', { host, path: '/', method: 'GET', headers: {}, query: new URLSearchParams() }).kind === 'matched';
  t.match(state?.conditions, [
    { kind: 'TeapotPolicy', name: 'tea', type: 'Rejected', reasons: [/TeapotPolicy is not a policy kind \(ApiKeyPolicy, JwtPolicy, RateLimitPolicy, CorsPolicy, IpAccessPolicy, BodyLimitPolicy, TransformPolicy, CachePolicy\)/] },
  ]);
  t.equal(state?.conditions.length, 1);
  t.ok(served('r.test'), 'the targeted route serves (the policy is not attached)');
  t.ok(served('other.test'), 'the other route serves');
});
