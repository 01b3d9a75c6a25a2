import t, { type Test } from 'tap';
import { PRODUCTION_FOLDERS } from '../../support/source-tree.js';
import { readFileSync, readdirSync } from 'node:fs';
import { parse } from 'yaml';
import { manifestProblems } from '../../support/kube-schemas.js';
import { certManagerProblems } from './cert-manager-schemas.js';
import { monitoringProblems } from './monitoring-schemas.js';
import { CHART_DIR, env, find, helmTemplate, type Doc, type Rendered } from './helm.js';
import { makeTestPki } from '../../support/pki.js';
import { privateKeyToPem } from '../../../lib/pki/crypto.js';

const chartDir = `${CHART_DIR}/`;
const templates = readdirSync(`${chartDir}templates`).map((f) => readFileSync(`${chartDir}templates/${f}`, 'utf8'));
const defaults = parse(readFileSync(`${chartDir}values.yaml`, 'utf8')) as Record<string, unknown>;

/** Dotted paths of every value in values.yaml; maps and lists that hold user data are leaves. */
function valuePaths(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length === 0) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => valuePaths(x, prefix ? `${prefix}.${k}` : k));
}

function has(obj: unknown, path: string): boolean {
  let v = obj;
  for (const key of path.split('.')) {
    // Fields of list items (range over gateway.tlsSecrets) are checked by the schema instead.
    if (Array.isArray(v)) return true;
    if (v === null || typeof v !== 'object' || !(key in v)) return false;
    v = (v as Record<string, unknown>)[key];
  }
  return true;
}

/** Every .Values path the templates read, including through `$x := .Values.a` aliases. */
function templatePaths(): Set<string> {
  const out = new Set<string>();
  for (const src of templates) {
    const aliases = new Map<string, string>();
    for (const m of src.matchAll(/\$(\w+)\s*:=\s*\.Values((?:\.\w+)+)/g)) aliases.set(m[1] as string, (m[2] as string).slice(1));
    for (const m of src.matchAll(/\.Values((?:\.\w+)+)/g)) out.add((m[1] as string).slice(1));
    for (const [alias, base] of aliases) {
      for (const m of src.matchAll(new RegExp(`\\$${alias}((?:\\.\\w+)+)`, 'g'))) out.add(`${base}${m[1] as string}`);
      out.add(base);
    }
  }
  return out;
}

t.test('every .Values path a template reads exists in values.yaml', async (t) => {
  const used = templatePaths();
  t.ok(used.size > 40, `found ${used.size} paths`);
  for (const path of used) t.ok(has(defaults, path), `.Values.${path} is in values.yaml`);
});

t.test('every value in values.yaml is read by some template', async (t) => {
  const used = [...templatePaths()];
  for (const path of valuePaths(defaults)) {
    t.ok(used.some((u) => u === path || u.startsWith(`${path}.`) || path.startsWith(`${u}.`)), `${path} is used`);
  }
});

t.test('the chart README lists every value', async (t) => {
  const readme = readFileSync(`${chartDir}README.md`, 'utf8');
  for (const path of valuePaths(defaults)) t.match(readme, `| \`${path}\` |`, `${path} is documented`);
});

async function renderAndValidate(t: Test, name: string, values: Record<string, unknown>): Promise<Rendered> {
  const r = helmTemplate(values);
  for (const [i, doc] of r.docs.entries()) {
    const api = String(doc.apiVersion);
    const problems = api.startsWith('monitoring.coreos.com/') ? monitoringProblems(doc) : api.startsWith('cert-manager.io/') ? certManagerProblems(doc) : await manifestProblems(doc);
    t.same(problems, [], `${name}: ${r.sources[i] ?? ''} ${String(doc.kind)} validates against the Kubernetes schemas`);
  }
  return r;
}

const docs = (r: Rendered): readonly Doc[] => r.docs;

t.test('the default render and each example render to valid Kubernetes objects', async (t) => {
  await renderAndValidate(t, 'defaults', {});
  for (const file of readdirSync(`${chartDir}examples`)) {
    await renderAndValidate(t, file, parse(readFileSync(`${chartDir}examples/${file}`, 'utf8')) as Record<string, unknown>);
  }
  const pki = await makeTestPki();
  const supplied = await renderAndValidate(t, 'supplied trust', {
    identity: {
      trustAnchorsPEM: pki.authority.root.toString('pem'),
      issuer: { certPEM: pki.authority.issuer.cert.toString('pem'), keyPEM: await privateKeyToPem(pki.authority.issuer.key) },
    },
  });
  const cm = find(supplied, 'ConfigMap', 'weft-trust-anchors');
  t.match(cm?.data?.['roots.pem'], /^-----BEGIN CERTIFICATE-----/, 'the chart owns the trust anchors it was given');
  const secret = find(supplied, 'Secret', 'weft-ca-issuer');
  t.equal(Buffer.from(String(secret?.data?.['tls.crt']), 'base64').toString(), pki.authority.issuer.cert.toString('pem').trim());
  t.notOk(find(supplied, 'Role', 'weft-ca'), 'with supplied trust the CA gets no Secret or ConfigMap access');
  t.equal(env(find(supplied, 'Deployment', 'weft-ca'), 'WEFT_CA_GENERATE'), 'false');
});

t.test('weft Deployments: 2 replicas, spread, budgets, probes, resources and the restricted security context', async (t) => {
  const files = helmTemplate({ gateway: { enabled: true } });
  for (const name of ['weft-ca', 'weft-injector', 'weft-gateway']) {
    const dep = find(files, 'Deployment', name);
    t.ok(dep, `${name} exists`);
    t.equal(dep?.spec.replicas, 2, `${name} has 2 replicas`);
    const pod = dep?.spec.template.spec;
    t.equal(pod.securityContext.runAsNonRoot, true);
    t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    t.same(pod.topologySpreadConstraints.map((c: Doc) => c.topologyKey), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    t.ok(pod.affinity.podAntiAffinity, `${name} prefers other nodes`);
    t.equal(dep?.spec.template.metadata.labels['weft.dev/component'], name.slice(5), 'the webhook objectSelector sees this label');
    for (const c of pod.containers as Doc[]) {
      t.same(c.securityContext, {
        runAsNonRoot: true, runAsUser: 7007, runAsGroup: 7007, readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
      }, `${name}/${c.name} is locked down`);
      t.equal(c.livenessProbe.httpGet.path, '/live');
      t.equal(c.readinessProbe.httpGet.path, '/ready');
      t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, `${name} has requests and limits`);
    }
    const pdb = find(files, 'PodDisruptionBudget', name);
    t.same(pdb?.spec.selector, dep?.spec.selector, `${name}'s budget selects its pods`);
  }
  const injector = find(files, 'Deployment', 'weft-injector')?.spec.template.spec;
  t.equal(injector.containers[0].readinessProbe.httpGet.scheme, 'HTTPS', 'the injector serves its probes over HTTPS');
  t.equal(injector.automountServiceAccountToken, false, 'the injector calls no API and holds no token');
  // Trust anchors reach proxies through the injector (env WEFT_TRUST_ANCHORS), not per-namespace copies.
  const trustFile = injector.containers[0].env.find((e: Doc) => e.name === 'WEFT_INJECTOR_TRUST_ANCHORS_FILE')?.value as string;
  const trustVolume = injector.volumes.find((v: Doc) => v.name === 'trust-anchors');
  t.same(trustVolume?.configMap, { name: 'weft-trust-anchors', optional: true, items: [{ key: 'roots.pem', path: 'roots.pem' }] }, 'the injector mounts weft\'s own ConfigMap');
  const mount = injector.containers[0].volumeMounts.find((m: Doc) => m.name === 'trust-anchors');
  t.equal(`${mount?.mountPath as string}/roots.pem`, trustFile, 'WEFT_INJECTOR_TRUST_ANCHORS_FILE points into the mount');
  t.notOk(injector.containers[0].env.some((e: Doc) => e.name === 'WEFT_INJECTOR_TRUST_ANCHORS_CONFIGMAP'), 'no per-namespace ConfigMap name');
});

t.test('the webhook: selectors, sideEffects, failurePolicy from values, and a caBundle matching its Secret', async (t) => {
  const files = helmTemplate();
  const mwc = find(files, 'MutatingWebhookConfiguration', 'weft-injector');
  const [ns, pod] = mwc?.webhooks as Doc[];
  t.equal(ns?.failurePolicy, 'Fail');
  t.equal(pod?.failurePolicy, 'Ignore', 'the opt-in webhook for unlabelled namespaces never blocks pods');
  for (const w of [ns, pod] as Doc[]) {
    t.equal(w.sideEffects, 'None');
    t.same(w.admissionReviewVersions, ['v1']);
    t.equal(w.timeoutSeconds, 10);
    t.same(w.objectSelector.matchExpressions, [{ key: 'weft.dev/component', operator: 'DoesNotExist' }]);
    t.same(w.namespaceSelector.matchExpressions[1], { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'weft-system'] });
    t.same(w.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  }
  t.same(ns?.namespaceSelector.matchExpressions[0], { key: 'weft.dev/inject', operator: 'In', values: ['enabled'] });
  t.equal(ns?.clientConfig.service.path, '/mutate/ns-enabled', 'the path tells the injector the namespace is labelled');
  t.equal(pod?.clientConfig.service.path, '/mutate');
  const secret = find(files, 'Secret', 'weft-injector-tls');
  t.equal(ns?.clientConfig.caBundle, secret?.data['ca.crt'], 'caBundle is the CA of the serving Secret');

  const ignore = helmTemplate({ injector: { webhook: { failurePolicy: 'Ignore', podOptIn: false } } });
  const only = find(ignore, 'MutatingWebhookConfiguration', 'weft-injector')?.webhooks as Doc[];
  t.equal(only.length, 1, 'podOptIn false drops the second webhook');
  t.equal(only[0]?.failurePolicy, 'Ignore');
});

t.test('a user-supplied webhook Secret is mounted and its CA becomes the caBundle', async (t) => {
  const pem = (await makeTestPki()).authority.root.toString('pem');
  const files = helmTemplate({ injector: { tls: { existingSecret: 'injector-cert', caBundlePEM: pem } } });
  t.notOk(find(files, 'Secret', 'weft-injector-tls'), 'no generated Secret');
  t.equal((find(files, 'MutatingWebhookConfiguration', 'weft-injector')?.webhooks as Doc[])[0]?.clientConfig.caBundle, Buffer.from(pem).toString('base64'));
  t.equal(find(files, 'Deployment', 'weft-injector')?.spec.template.spec.volumes[0].secret.secretName, 'injector-cert');
});

t.test('the gateway: off by default; when enabled a LoadBalancer Service, and an HPA that takes over replicas when enabled', async (t) => {
  t.notOk(docs(helmTemplate()).some((d) => d.metadata?.name?.startsWith('weft-gateway')), 'no gateway object by default');
  const plain = helmTemplate({ gateway: { enabled: true } });
  t.equal(find(plain, 'Service', 'weft-gateway')?.spec.type, 'LoadBalancer');
  t.notOk(find(plain, 'HorizontalPodAutoscaler', 'weft-gateway'));
  const scaled = helmTemplate({ gateway: { enabled: true, autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 9 } } });
  const hpa = find(scaled, 'HorizontalPodAutoscaler', 'weft-gateway');
  t.same([hpa?.spec.minReplicas, hpa?.spec.maxReplicas], [3, 9]);
  t.equal(find(scaled, 'Deployment', 'weft-gateway')?.spec.replicas, undefined, 'replicas left to the HPA');
  const off = helmTemplate({ gateway: { enabled: false } });
  t.notOk(docs(off).some((d) => d.metadata?.name?.startsWith('weft-gateway')), 'gateway.enabled false removes every gateway object');
});

t.test('the proxy-facing settings use the names in docs/sidecar-config.md', async (t) => {
  const contract = readFileSync(new URL('../../../docs/sidecar-config.md', import.meta.url), 'utf8');
  const files = helmTemplate({ gateway: { enabled: true } });
  const gw = find(files, 'Deployment', 'weft-gateway')?.spec.template.spec.containers[0].env as { name: string }[];
  for (const { name } of gw.filter((e) => !e.name.startsWith('WEFT_GATEWAY_'))) t.match(contract, `\`${name}\``, `${name} is a documented proxy variable`);
  t.equal(env(find(files, 'Deployment', 'weft-injector'), 'WEFT_CA_ADDR'), 'https://weft-ca.weft-system.svc:8443', 'the CA address DESIGN.md names');
  t.equal(env(find(files, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_NATIVE_SIDECARS'), 'true', 'native sidecars on 1.30');
  const old = helmTemplate({}, { kubeVersion: 'v1.28.9' });
  t.equal(env(find(old, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_NATIVE_SIDECARS'), 'false', 'a first container on 1.28');
});

t.test('every WEFT_* variable the chart sets is one the code reads', async (t) => {
  const { readdirSync: ls, statSync } = await import('node:fs');
  const root = new URL('../../../', import.meta.url).pathname;
  const walk = (d: string): string[] => ls(d).flatMap((e) => (statSync(`${d}/${e}`).isDirectory() ? walk(`${d}/${e}`) : e.endsWith('.ts') ? [`${d}/${e}`] : []));
  const code = PRODUCTION_FOLDERS.flatMap((d) => walk(`${root}${d}`)).map((f) => readFileSync(f, 'utf8')).join('\n');
  const files = helmTemplate({ gateway: { enabled: true, tlsSecrets: [{ namespace: 'a', name: 'b' }] } });
  const names = new Set(docs(files).filter((d) => d.kind === 'Deployment').flatMap((d) => (d.spec.template.spec.containers[0].env as { name: string }[]).map((e) => e.name)));
  t.ok(names.size > 30, `${names.size} variables`);
  for (const name of names) {
    // The injector builds its resource variable names from a prefix and a suffix.
    const parts = /^(WEFT_INJECTOR_(?:PROXY|INIT))_((?:CPU|MEMORY)_(?:REQUEST|LIMIT))$/.exec(name);
    const read = parts ? code.includes(`'${parts[1]}'`) && code.includes(`'${parts[2]}'`) : code.includes(`'${name}'`);
    t.ok(read, `${name} is read by the code`);
  }
});

t.test('the egress policy values reach the injector, which writes them into every proxy', async (t) => {
  const plain = helmTemplate();
  t.equal(env(find(plain, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_EGRESS_MODE'), 'allow', 'allow by default');
  t.equal(env(find(plain, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_EGRESS_ALLOW'), '');
  const files = helmTemplate({ proxy: { egress: { mode: 'registry-only', allow: ['api.example.com', '*.partner.io', '10.0.0.0/8'] } } });
  t.equal(env(find(files, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_EGRESS_MODE'), 'registry-only');
  t.equal(env(find(files, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_EGRESS_ALLOW'), 'api.example.com,*.partner.io,10.0.0.0/8');
});
