// weft's CRDs, rendered from the chart's templates (crds.install): Kubernetes-valid, kept on uninstall,
// matching what the gateway may read, and their schemas accept what the docs show and refuse the rest.
import t from 'tap';
import { existsSync } from 'node:fs';
import { Ajv } from 'ajv';
import { helmTemplate } from './helm.js';
import { manifestProblems } from '../../support/kube-schemas.js';
import { KUBE_ACCESS } from '../../../lib/kube/access.js';

interface Crd {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { group: string; names: { kind: string; plural: string }; versions: { name: string; storage: boolean; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
}
const chartDir = new URL('../../../charts/weft/', import.meta.url).pathname;
const renderCrds = (values: Record<string, unknown>): Crd[] =>
  (helmTemplate(values).docs as unknown as Crd[]).filter((d) => d.kind === 'CustomResourceDefinition');
const crds: Crd[] = renderCrds({});

t.test('the CRDs are templates: installed and upgraded with the release, kept on uninstall, left out with crds.install=false', async (t) => {
  t.notOk(existsSync(`${chartDir}crds`), 'no crds/ folder (Helm installs it on first install only and never upgrades it)');
  t.equal(crds.length, 11, 'rendered by default');
  for (const crd of crds) {
    t.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep', `${crd.metadata.name}: helm uninstall leaves it and its objects`);
    t.equal(crd.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${crd.metadata.name}: carries the chart's labels`);
    t.equal(crd.metadata.labels?.['app.kubernetes.io/part-of'], 'weft');
  }
  t.same(renderCrds({ crds: { install: false } }), [], 'crds.install=false renders none');
  t.equal(renderCrds({ gateway: { enabled: true } }).length, 11, 'the same with the gateway on');
});

t.test('every CRD the chart renders validates against the Kubernetes schemas', async (t) => {
  t.equal(crds.filter((c) => c.spec.group === 'weft.dev').length, 10, 'eight gateway policy kinds, Consumer and Plan');
  t.same(crds.filter((c) => c.spec.group === 'policy.weft.dev').map((c) => c.spec.names.kind), ['AuthorizationPolicy'], 'and the authorization kind');
  for (const crd of crds) {
    t.equal(crd.kind, 'CustomResourceDefinition');
    t.same(await manifestProblems(crd as unknown as Record<string, unknown>), [], `${crd.metadata.name} validates`);
    t.equal(crd.metadata.name, `${crd.spec.names.plural}.${crd.spec.group}`, 'named <plural>.<group> as the API server requires');
    t.same(crd.spec.versions.map((v) => [v.name, v.storage]), [['v1alpha1', true]]);
  }
});

t.test('the gateway may read exactly the policy kinds the CRDs define', async (t) => {
  const granted = KUBE_ACCESS.filter((a) => a.component === 'gateway' && a.group === 'weft.dev').map((a) => a.resource).sort();
  t.same(granted, crds.filter((c) => c.spec.group === 'weft.dev').map((c) => c.spec.names.plural).sort());
});

// The API server checks custom objects against openAPIV3Schema; ajv does the same checks offline
// once the Kubernetes-only keywords are dropped.
function jsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(jsonSchema);
  if (s === null || typeof s !== 'object') return s;
  return Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith('x-kubernetes-')).map(([k, v]) => [k, jsonSchema(v)]));
}
const ajv = new Ajv({ allErrors: true, strict: false });
const schemaOf = (kind: string): ReturnType<typeof ajv.compile> => {
  const crd = crds.find((c) => c.spec.names.kind === kind);
  return ajv.compile(jsonSchema(crd?.spec.versions[0]?.schema.openAPIV3Schema) as object);
};
const target = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'orders' };

t.test('policies written as the docs show are accepted', async (t) => {
  // The examples of docs/gateway.md "Policies".
  const good: [string, Record<string, unknown>][] = [
    ['ApiKeyPolicy', { targetRef: target, header: 'x-api-key', consumerHeader: 'x-weft-consumer', consumers: [{ name: 'alice', keySha256: '0572c17ed012b3efdf9df98db1718f225887132739b8da945d81ac5a7d1fea45' }] }],
    ['JwtPolicy', { targetRef: { kind: 'HTTPRoute', name: 'orders' }, issuer: 'https://login.example.com', audiences: ['orders-api'], jwksUrl: 'https://login.example.com/.well-known/jwks.json', algorithms: ['RS256', 'ES256', 'EdDSA'], clockSkewSeconds: 30, jwksCooldownSeconds: 30, consumerClaim: 'sub', claimsToHeaders: [{ claim: 'sub', header: 'x-user' }] }],
    ['RateLimitPolicy', { targetRef: { kind: 'Gateway', name: 'edge' }, requests: 100, window: '1m', key: { type: 'Consumer' } }],
    ['CorsPolicy', { targetRef: { kind: 'HTTPRoute', name: 'web' }, allowOrigins: ['https://app.example.com', 'https://*.example.com'], allowMethods: ['GET', 'PUT'], allowHeaders: ['content-type'], exposeHeaders: ['x-request-id'], allowCredentials: false, maxAgeSeconds: 600 }],
    ['IpAccessPolicy', { targetRef: { kind: 'HTTPRoute', name: 'admin' }, allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.1.0.0/16'] }],
    ['BodyLimitPolicy', { targetRef: { kind: 'HTTPRoute', name: 'upload' }, maxBytes: 1048576 }],
    // The example of docs/api-management.md "Transformation".
    [
      'TransformPolicy',
      {
        targetRef: { kind: 'HTTPRoute', name: 'orders' },
        query: { rename: [{ from: 'q', to: 'search' }], remove: ['debug'], set: [{ name: 'v', value: '3' }], add: [{ name: 'tag', value: 'edge' }] },
        requestBody: {
          maxBytes: 1048576,
          edits: [
            { op: 'set', path: '/meta/via', value: { gateway: 'edge' } },
            { op: 'remove', path: '/password' },
            { op: 'rename', from: '/user_name', path: '/userName' },
            { op: 'set', path: '/tags/-', value: 'new' },
          ],
        },
        responseBody: { maxBytes: 1048576, edits: [{ op: 'remove', path: '/internal' }] },
      },
    ],
    // docs/caching.md
    ['CachePolicy', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'catalogue' }, defaultTtl: '60s', maxBytes: 67108864, maxEntryBytes: 1048576, backend: 'memory' }],
  ];
  for (const [kind, spec] of good) {
    const v = schemaOf(kind);
    t.ok(v({ apiVersion: 'weft.dev/v1alpha1', kind, metadata: {}, spec }), `${kind}: ${JSON.stringify(v.errors)}`);
  }
});

t.test('policies with wrong fields are refused by the API server schema', async (t) => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['ApiKeyPolicy', { consumers: [{ name: 'x', keySha256: 'a'.repeat(64) }] }, /targetRef/],
    ['ApiKeyPolicy', { targetRef: target, consumers: [{ name: 'x', keySha256: 'plaintext-key' }] }, /pattern/],
    ['RateLimitPolicy', { targetRef: target, requests: 0, window: '1m' }, />= 1/],
    ['RateLimitPolicy', { targetRef: target, requests: 10, window: '1 minute' }, /pattern/],
    ['JwtPolicy', { targetRef: target, issuer: 'x', algorithms: ['none'] }, /allowed values/],
    ['IpAccessPolicy', { targetRef: { ...target, kind: 'Service' } }, /allowed values/],
    ['BodyLimitPolicy', { targetRef: target }, /maxBytes/],
    ['TransformPolicy', { targetRef: target, requestBody: { edits: [{ op: 'copy', path: '/a' }] } }, /allowed values/],
    ['TransformPolicy', { targetRef: target, responseBody: { edits: [{ op: 'remove', path: 'a' }] } }, /pattern/],
    ['TransformPolicy', { targetRef: target, requestBody: { maxBytes: 0, edits: [{ op: 'remove', path: '/a' }] } }, />= 1/],
    ['CachePolicy', { targetRef: target, defaultTtl: '1 minute' }, /pattern/],
    ['CachePolicy', { targetRef: target, backend: 'redis' }, /allowed values/],
  ];
  for (const [kind, spec, message] of bad) {
    const v = schemaOf(kind);
    t.notOk(v({ apiVersion: 'weft.dev/v1alpha1', kind, metadata: {}, spec }), `${kind} ${JSON.stringify(spec)} refused`);
    t.match(ajv.errorsText(v.errors), message);
  }
});

t.test('AuthorizationPolicies written as docs/policy.md shows are accepted, and malformed ones refused', async (t) => {
  const v = schemaOf('AuthorizationPolicy');
  const ok = (spec: unknown): boolean => v({ apiVersion: 'policy.weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {}, spec }) as boolean;
  t.ok(ok({ selector: { matchLabels: { app: 'hello' } }, action: 'ALLOW', rules: [{ from: { serviceAccounts: ['client', 'ops/admin'], principals: ['spiffe://cluster.local/ns/demo/*'] }, to: { paths: ['/admin', '/admin/*'] } }, { to: { notPaths: ['/admin'] } }] }), JSON.stringify(v.errors));
  t.ok(ok({ action: 'DENY', rules: [{ from: { namespaces: ['sandbox'] } }] }));
  t.ok(ok({ rules: [{ from: { serviceAccounts: ['orders'] }, to: { ports: [5432] } }] }));
  t.notOk(ok({ action: 'PERMIT', rules: [] }), 'unknown action');
  t.notOk(ok({ rules: [{ to: { paths: ['admin'] } }] }), 'a path without /');
  t.notOk(ok({ rules: [{ to: { ports: [0] } }] }), 'port 0');
  t.notOk(ok({ rules: [{ from: { principals: ['spiffe://x/*/y'] } }] }), 'a * inside a principal');
  t.notOk(ok({ rules: [{ when: {} }] }), 'an unknown rule field');
  t.notOk(ok({ selector: {} }), 'no rules');
});
