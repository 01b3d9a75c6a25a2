import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { chartValues } from './helm.js';
import { makeTestPki } from '../../support/pki.js';
import { privateKeyToPem } from '../../../lib/pki/crypto.js';

const chartDir = new URL('../../../charts/weft/', import.meta.url).pathname;
const schema = JSON.parse(readFileSync(`${chartDir}values.schema.json`, 'utf8')) as Record<string, unknown>;
// strict mode also refuses a schema with unknown keywords or contradictions.
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
const validate = ajv.compile(schema);

/** The errors Helm would print, as "path: message". */
function problems(values: unknown): string[] {
  if (validate(values)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '(root)'}: ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

t.test('the schema is draft-07, as Helm reads it', async (t) => {
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  t.equal(schema.additionalProperties, false, 'a misspelt top-level value fails');
});

t.test('values.yaml validates against values.schema.json', async (t) => {
  t.same(problems(parse(readFileSync(`${chartDir}values.yaml`, 'utf8'))), []);
});

t.test('every example values file validates once merged over the defaults', async (t) => {
  const examples = readdirSync(`${chartDir}examples`).filter((f) => f.endsWith('.yaml'));
  t.ok(examples.length >= 2, 'there are examples');
  for (const file of examples) {
    const overrides = parse(readFileSync(`${chartDir}examples/${file}`, 'utf8')) as Record<string, unknown>;
    t.same(problems(overrides), [], `${file} alone`);
    t.same(problems(chartValues(overrides)), [], `${file} merged`);
  }
});

t.test('user-supplied trust validates: root with an issuer Secret, or root with issuer PEMs', async (t) => {
  const pki = await makeTestPki();
  const root = pki.authority.root.toString('pem');
  const issuer = pki.authority.issuer.cert.toString('pem');
  const key = await privateKeyToPem(pki.authority.issuer.key);
  t.same(problems(chartValues({ identity: { trustAnchorsPEM: root, issuer: { existingSecret: 'weft-issuer' } } })), []);
  t.same(
    problems(chartValues({ identity: { trustAnchorsPEM: `${root}\n${root}`, issuer: { certPEM: issuer, keyPEM: key } } })),
    [],
    'a bundle of two roots (mid-rotation) with issuer PEMs',
  );
});

// Deliberately wrong values: each must fail, and the message must point at the value.
const WRONG: readonly { why: string; values: Record<string, unknown>; path: RegExp; message: RegExp }[] = [
  { why: 'a misspelt key', values: { gateway: { replica: 3 } }, path: /^\/gateway$/, message: /additional properties \(replica\)/ },
  { why: 'replicas as a string', values: { ca: { replicas: '2' } }, path: /^\/ca\/replicas$/, message: /must be integer/ },
  { why: 'zero replicas', values: { injector: { replicas: 0 } }, path: /^\/injector\/replicas$/, message: />= 1/ },
  { why: 'an unknown failurePolicy', values: { injector: { webhook: { failurePolicy: 'Sometimes' } } }, path: /failurePolicy$/, message: /allowed values/ },
  { why: 'a webhook timeout above 30 s', values: { injector: { webhook: { timeoutSeconds: 31 } } }, path: /timeoutSeconds$/, message: /<= 30/ },
  { why: 'a memory limit in MB', values: { ca: { resources: { limits: { memory: '256MB' } } } }, path: /\/ca\/resources\/limits\/memory$/, message: /pattern|oneOf/ },
  { why: 'a negative cpu request', values: { proxy: { resources: { requests: { cpu: '-1' } } } }, path: /\/proxy\/resources\/requests\/cpu$/, message: /pattern|oneOf/ },
  { why: 'an unknown resource name', values: { gateway: { resources: { limits: { gpu: 1 } } } }, path: /\/gateway\/resources\/limits$/, message: /additional properties \(gpu\)/ },
  { why: 'an unknown Service type', values: { gateway: { service: { type: 'Ingress' } } }, path: /\/gateway\/service\/type$/, message: /allowed values/ },
  { why: 'an unknown log level', values: { logLevel: 'verbose' }, path: /^\/logLevel$/, message: /allowed values/ },
  { why: 'an upper-case trust domain', values: { trustDomain: 'Cluster.Local' }, path: /^\/trustDomain$/, message: /pattern/ },
  { why: 'a port out of range', values: { ca: { port: 70000 } }, path: /^\/ca\/port$/, message: /<= 65535/ },
  { why: 'trust anchors that are not PEM', values: { identity: { trustAnchorsPEM: 'MIIB...', issuer: { existingSecret: 'x' } } }, path: /trustAnchorsPEM$/, message: /pattern/ },
  { why: 'a root without an issuer', values: { identity: { trustAnchorsPEM: '-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----' } }, path: /\/identity\/issuer/, message: /required|anyOf/ },
  { why: 'an issuer without a root', values: { identity: { issuer: { existingSecret: 'weft-issuer' } } }, path: /\/identity\/issuer\/existingSecret$/, message: /constant/ },
  { why: 'a webhook Secret without its caBundle', values: { injector: { tls: { existingSecret: 'my-cert' } } }, path: /\/injector\/tls\/caBundlePEM$/, message: /fewer than 1/ },
  { why: 'cert-manager with a Secret of your own too', values: { injector: { tls: { provider: 'cert-manager', existingSecret: 'my-cert', caBundlePEM: '-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----' } } }, path: /\/injector\/tls\/(existingSecret|caBundlePEM)$/, message: /constant/ },
  { why: 'an unknown webhook certificate provider', values: { injector: { tls: { provider: 'vault' } } }, path: /\/injector\/tls\/provider$/, message: /allowed values/ },
  { why: 'a cert-manager duration that is not a Go duration', values: { injector: { tls: { provider: 'cert-manager', certManager: { duration: '90d' } } } }, path: /\/injector\/tls\/certManager\/duration$/, message: /pattern/ },
  { why: 'a gateway TLS Secret without a namespace', values: { gateway: { tlsSecrets: [{ name: 'x' }] } }, path: /\/gateway\/tlsSecrets\/0$/, message: /namespace/ },
  { why: 'an unknown sidecar mode', values: { injector: { sidecarMode: 'sidecar' } }, path: /sidecarMode$/, message: /allowed values/ },
  { why: 'a PDB percentage without %', values: { ca: { podDisruptionBudget: { enabled: true, maxUnavailable: '50' } } }, path: /maxUnavailable$/, message: /pattern|oneOf/ },
];

t.test('wrong values fail with a message naming the value', async (t) => {
  for (const w of WRONG) {
    const found = problems(chartValues(w.values));
    t.ok(found.length > 0, `${w.why} fails`);
    const hit = found.find((p) => w.path.test(p.split(': ')[0] ?? '') && w.message.test(p));
    t.ok(hit, `${w.why}: a message at ${w.path} saying ${w.message} (got ${found.join('; ')})`);
  }
});
