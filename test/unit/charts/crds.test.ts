import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { manifestProblems } from '../../support/kube-schemas.js';
import { KUBE_ACCESS } from '../../../lib/kube-access.js';

const crdDir = new URL('../../../charts/weft/crds/', import.meta.url).pathname;
interface Crd {
  kind: string;
  metadata: { name: string };
  spec: { group: string; names: { kind: string; plural: string }; versions: { name: string; storage: boolean; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
}
const crds: Crd[] = readdirSync(crdDir).flatMap((f) => parseAllDocuments(readFileSync(`${crdDir}${f}`, 'utf8')).map((d) => d.toJS() as Crd));

t.test('every manifest under crds/ validates against the Kubernetes schemas', async (t) => {
  t.equal(crds.length, 5, 'five policy kinds');
  for (const crd of crds) {
    t.equal(crd.kind, 'CustomResourceDefinition');
    t.same(await manifestProblems(crd as unknown as Record<string, unknown>), [], `${crd.metadata.name} validates`);
    t.equal(crd.metadata.name, `${crd.spec.names.plural}.${crd.spec.group}`, 'named <plural>.<group> as the API server requires');
    t.same(crd.spec.versions.map((v) => [v.name, v.storage]), [['v1alpha1', true]]);
  }
});

t.test('the gateway may read exactly the policy kinds the CRDs define', async (t) => {
  const granted = KUBE_ACCESS.filter((a) => a.component === 'gateway' && a.group === 'weft.dev').map((a) => a.resource).sort();
  t.same(granted, crds.map((c) => c.spec.names.plural).sort());
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
  const good: [string, Record<string, unknown>][] = [
    ['ApiKeyPolicy', { targetRef: target, in: 'header', name: 'x-api-key', consumers: [{ name: 'acme', keyHash: `sha256:${'a'.repeat(64)}` }] }],
    ['JwtPolicy', { targetRef: target, issuer: 'https://id.example.com', audiences: ['orders'], jwksUri: 'https://id.example.com/jwks', algorithms: ['ES256'], forwardClaims: [{ claim: 'sub', header: 'x-user' }] }],
    ['RateLimitPolicy', { targetRef: { ...target, kind: 'Gateway', name: 'edge' }, limit: 100, windowSeconds: 60, key: { type: 'clientIP' } }],
    ['CorsPolicy', { targetRef: target, allowOrigins: ['https://shop.example.com'], allowMethods: ['GET'], maxAgeSeconds: 600 }],
    ['IpListPolicy', { targetRef: target, allow: ['10.0.0.0/8'], deny: ['10.1.2.3'], trustedProxies: ['192.0.2.0/24'] }],
  ];
  for (const [kind, spec] of good) {
    const v = schemaOf(kind);
    t.ok(v({ apiVersion: 'weft.dev/v1alpha1', kind, metadata: {}, spec }), `${kind}: ${JSON.stringify(v.errors)}`);
  }
});

t.test('policies with wrong fields are refused by the API server schema', async (t) => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['ApiKeyPolicy', { consumers: [{ name: 'x' }] }, /targetRef/],
    ['ApiKeyPolicy', { targetRef: target, consumers: [{ name: 'x', keyHash: 'plaintext-key' }] }, /pattern/],
    ['RateLimitPolicy', { targetRef: target, limit: 0, windowSeconds: 60 }, />= 1/],
    ['JwtPolicy', { targetRef: target, issuer: 'x', algorithms: ['none'] }, /allowed values/],
    ['IpListPolicy', { targetRef: { ...target, kind: 'Service' } }, /allowed values/],
  ];
  for (const [kind, spec, message] of bad) {
    const v = schemaOf(kind);
    t.notOk(v({ apiVersion: 'weft.dev/v1alpha1', kind, metadata: {}, spec }), `${kind} ${JSON.stringify(spec)} refused`);
    t.match(ajv.errorsText(v.errors), message);
  }
});
