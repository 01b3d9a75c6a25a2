// The chart under the real Helm: `helm lint --strict` and `helm template` over a table of value
// variants, every rendered object checked against the Kubernetes schemas, each row's own checks.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { parse } from 'yaml';
import { manifestProblems } from '../../support/kube-schemas.js';
import { makeTestPki } from '../../support/pki.js';
import { privateKeyToPem } from '../../../lib/pki/crypto.js';
import { CHART_DIR, env, find, helmLint, helmTemplate, helmVersion, type Doc, type Rendered, type Variant } from './helm.js';
import { certManagerProblems } from './cert-manager-schemas.js';
import { monitoringProblems } from './monitoring-schemas.js';
import { VARIANTS_PART2 } from './variants-values.js';

const pki = await makeTestPki();
const rootPem = pki.authority.root.toString('pem');
const issuerPem = pki.authority.issuer.cert.toString('pem');
const issuerKey = await privateKeyToPem(pki.authority.issuer.key);
const example = (file: string): Record<string, unknown> => parse(readFileSync(`${CHART_DIR}/examples/${file}`, 'utf8')) as Record<string, unknown>;
const podSpec = (r: Rendered, name: string): Doc => find(r, 'Deployment', name)?.spec.template.spec as Doc;
const DEPLOYMENTS = ['weft-ca', 'weft-injector', 'weft-destination', 'weft-gateway'];

const VARIANTS: readonly Variant[] = [
  { name: 'defaults', values: {}, check: (t, r) => t.same(r.docs.filter((d) => d.kind === 'Deployment').map((d) => d.metadata?.name).sort(), ['weft-ca', 'weft-destination', 'weft-injector'], 'three Deployments: the gateway is off by default') },
  ...readdirSync(`${CHART_DIR}/examples`).filter((f) => f.endsWith('.yaml')).map((f): Variant => ({ name: `examples/${f}`, values: example(f) })),
  {
    name: 'supplied trust as PEMs',
    values: { identity: { trustAnchorsPEM: rootPem, issuer: { certPEM: issuerPem, keyPEM: issuerKey } } },
    check: (t, r) => {
      t.match(find(r, 'ConfigMap', 'weft-trust-anchors')?.data?.['roots.pem'], /^-----BEGIN CERTIFICATE-----/);
      t.equal(env(find(r, 'Deployment', 'weft-ca'), 'WEFT_CA_GENERATE'), 'false');
    },
  },
  {
    name: 'supplied trust with an issuer Secret',
    values: { identity: { trustAnchorsPEM: rootPem, issuer: { existingSecret: 'weft-issuer' } } },
    check: (t, r) => t.equal(env(find(r, 'Deployment', 'weft-ca'), 'WEFT_CA_SECRET'), 'weft-issuer'),
  },
  { name: 'gateway off', values: { gateway: { enabled: false } }, check: (t, r) => t.notOk(r.docs.some((d) => String(d.metadata?.name).startsWith('weft-gateway'))) },
  {
    name: 'gateway autoscaled',
    values: { gateway: { enabled: true, autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 9 } } },
    check: (t, r) => t.same([find(r, 'HorizontalPodAutoscaler', 'weft-gateway')?.spec.minReplicas, find(r, 'Deployment', 'weft-gateway')?.spec.replicas], [3, undefined]),
  },
  { name: 'gateway ClusterIP', values: { gateway: { enabled: true, service: { type: 'ClusterIP' } } }, check: (t, r) => t.notOk(find(r, 'Service', 'weft-gateway')?.spec.externalTrafficPolicy) },
  { name: 'gateway NodePort, Local', values: { gateway: { enabled: true, service: { type: 'NodePort', externalTrafficPolicy: 'Local' } } }, check: (t, r) => t.equal(find(r, 'Service', 'weft-gateway')?.spec.externalTrafficPolicy, 'Local') },
  {
    name: 'gateway TLS Secrets in two namespaces',
    values: { gateway: { enabled: true, tlsSecrets: [{ namespace: 'edge', name: 'api-tls' }, { namespace: 'weft-system', name: 'www-tls' }] } },
    check: (t, r) => t.equal(env(find(r, 'Deployment', 'weft-gateway'), 'WEFT_GATEWAY_TLS_SECRETS'), 'edge/api-tls,weft-system/www-tls'),
  },
  { name: 'webhook Ignore without pod opt-in', values: { injector: { webhook: { failurePolicy: 'Ignore', podOptIn: false } } }, check: (t, r) => t.equal(find(r, 'MutatingWebhookConfiguration', 'weft-injector')?.webhooks.length, 1) },
  {
    name: 'webhook certificate from an existing Secret',
    values: { injector: { tls: { existingSecret: 'injector-cert', caBundlePEM: rootPem } } },
    check: (t, r) => t.notOk(find(r, 'Secret', 'weft-injector-tls'), 'no generated Secret'),
  },
  {
    name: 'webhook certificate from cert-manager, self-signed CA chain',
    values: { injector: { tls: { provider: 'cert-manager' } } },
    check: (t, r) => {
      t.notOk(r.docs.some((d) => d.kind === 'Secret'), 'no Secret in the render: nothing generated');
      const wh = find(r, 'MutatingWebhookConfiguration', 'weft-injector');
      t.equal(wh?.metadata.annotations['cert-manager.io/inject-ca-from'], 'weft-system/weft-injector', 'cainjector fills the caBundle from the Certificate');
      for (const w of wh?.webhooks as Doc[]) t.notOk('caBundle' in w.clientConfig, `${String(w.name)}: no caBundle in the render`);
      const cert = find(r, 'Certificate', 'weft-injector');
      t.same(cert?.spec.dnsNames, ['weft-injector', 'weft-injector.weft-system', 'weft-injector.weft-system.svc', 'weft-injector.weft-system.svc.cluster.local']);
      t.same(cert?.spec.issuerRef, { name: 'weft-injector-ca', kind: 'Issuer', group: 'cert-manager.io' });
      t.equal(find(r, 'Issuer', 'weft-injector-ca')?.spec.ca.secretName, find(r, 'Certificate', 'weft-injector-ca')?.spec.secretName, 'the CA Issuer signs with the CA Certificate');
      t.ok(find(r, 'Certificate', 'weft-injector-ca')?.spec.isCA);
      t.same(find(r, 'Issuer', 'weft-injector-selfsigned')?.spec, { selfSigned: {} });
      const volume = (podSpec(r, 'weft-injector').volumes as Doc[]).find((v) => v.name === 'tls');
      t.equal(volume?.secret.secretName, cert?.spec.secretName, 'the injector serves the Secret cert-manager writes');
    },
  },
  {
    name: 'webhook certificate from cert-manager, your ClusterIssuer',
    values: { injector: { tls: { provider: 'cert-manager', certManager: { issuerName: 'corp-ca', issuerKind: 'ClusterIssuer', duration: '720h', renewBefore: '240h' } } } },
    check: (t, r) => {
      t.notOk(r.docs.some((d) => d.kind === 'Issuer'), 'no Issuer of its own');
      const cert = find(r, 'Certificate', 'weft-injector');
      t.same(cert?.spec.issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
      t.match(cert?.spec, { duration: '720h', renewBefore: '240h' });
    },
  },
  {
    name: 'webhook certificate made and renewed by the injector itself',
    values: { injector: { tls: { provider: 'injector', injector: { lifetimeHours: 720 } } } },
    check: (t, r) => {
      const wh = find(r, 'MutatingWebhookConfiguration', 'weft-injector');
      for (const w of wh?.webhooks as Doc[]) t.notOk('caBundle' in w.clientConfig, `${String(w.name)}: no caBundle in the render (the injector patches it)`);
      t.same(find(r, 'Secret', 'weft-injector-self-tls')?.type, 'Opaque', 'the empty Secret it updates');
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_TLS_PROVIDER'), 'self');
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_TLS_SELF_LIFETIME_SECONDS'), String(720 * 3600));
      t.same(find(r, 'ClusterRole', 'weft-injector-webhook')?.rules, [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['weft-injector'], verbs: ['get', 'patch'] }]);
    },
  },
  { name: 'sidecars as first containers', values: { injector: { sidecarMode: 'container' } }, check: (t, r) => t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_NATIVE_SIDECARS'), 'false') },
  { name: 'Kubernetes 1.28, auto sidecars', values: {}, opts: { kubeVersion: 'v1.28.9' }, check: (t, r) => t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_NATIVE_SIDECARS'), 'false') },
  {
    name: 'registry-only egress',
    values: { proxy: { egress: { mode: 'registry-only', allow: ['api.example.com', '10.0.0.0/8'] } } },
    check: (t, r) => t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_EGRESS_ALLOW'), 'api.example.com,10.0.0.0/8'),
  },
  {
    name: 'commonLabels',
    values: { commonLabels: { team: 'platform', 'example.com/cost-centre': 'c42' } },
    check: (t, r) => {
      for (const d of r.docs) t.equal(d.metadata?.labels?.team, 'platform', `${String(d.kind)} ${String(d.metadata?.name)} has the label`);
    },
  },
  { name: 'no disruption budgets', values: { ca: { podDisruptionBudget: { enabled: false } }, injector: { podDisruptionBudget: { enabled: false } }, destination: { podDisruptionBudget: { enabled: false } }, gateway: { enabled: true, podDisruptionBudget: { enabled: false } } }, check: (t, r) => t.notOk(r.docs.some((d) => d.kind === 'PodDisruptionBudget')) },
  {
    name: 'trust domain, log levels and excluded namespaces',
    values: { trustDomain: 'prod.example.com', logLevel: 'warn', ca: { logLevel: 'debug' }, injector: { webhook: { excludeNamespaces: ['monitoring'] } } },
    check: (t, r) => {
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_DESTINATION_IDENTITY'), 'spiffe://prod.example.com/ns/weft-system/sa/weft-destination');
      t.same([env(find(r, 'Deployment', 'weft-ca'), 'WEFT_LOG_LEVEL'), env(find(r, 'Deployment', 'weft-injector'), 'WEFT_LOG_LEVEL')], ['debug', 'warn']);
      t.ok(find(r, 'MutatingWebhookConfiguration', 'weft-injector')?.webhooks[0].namespaceSelector.matchExpressions[1].values.includes('monitoring'));
    },
  },
  {
    name: 'another release name and namespace',
    values: {},
    opts: { releaseName: 'mesh', namespace: 'mesh-system' },
    check: (t, r) => {
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_CA_ADDR'), 'https://weft-ca.mesh-system.svc:8443');
      t.equal(find(r, 'Deployment', 'weft-ca')?.metadata.labels['app.kubernetes.io/instance'], 'mesh');
    },
  },
  {
    name: 'nodeSelector and tolerations on every component',
    values: Object.fromEntries(['ca', 'injector', 'destination', 'gateway'].map((c) => [c, { ...(c === 'gateway' ? { enabled: true } : {}), nodeSelector: { pool: c }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: c, effect: 'NoSchedule' }] }])),
    check: (t, r) => {
      for (const name of DEPLOYMENTS) {
        const c = name.slice(5);
        t.same(podSpec(r, name).nodeSelector, { pool: c }, `${name} nodeSelector`);
        t.equal(podSpec(r, name).tolerations[0].value, c, `${name} tolerations`);
      }
    },
  },
  {
    name: 'resources without limits',
    values: { ca: { resources: { limits: null } }, gateway: { enabled: true, resources: { limits: null } } },
    check: (t, r) => t.same(Object.keys(podSpec(r, 'weft-ca').containers[0].resources), ['requests'], 'a null deletes the default limits (Helm, not a merge)'),
  },
  ...VARIANTS_PART2,
  {
    name: 'monitoring: monitors, alerts and dashboard',
    values: { monitoring: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } } },
    check: (t, r) => t.equal(r.docs.filter((d) => String(d.apiVersion).startsWith('monitoring.coreos.com/')).length, 4, 'two PodMonitors, a ServiceMonitor, a PrometheusRule'),
  },
];

t.test(`the pinned Helm runs: ${helmVersion()}`, async (t) => {
  t.equal(helmVersion(), 'v4.1.4', 'the version scripts/ensure-helm.sh installs');
});

t.test('the table has at least 20 value variants', async (t) => {
  t.ok(VARIANTS.length >= 20, `${VARIANTS.length} variants`);
  t.equal(new Set(VARIANTS.map((v) => v.name)).size, VARIANTS.length, 'names are unique');
});

for (const v of VARIANTS) {
  t.test(`variant "${v.name}": helm lint --strict passes, every object validates, and the render shows its values`, async (t) => {
    const lint = helmLint(v.values);
    t.equal(lint.status, 0, `helm lint --strict: ${lint.stdout}${lint.stderr}`);
    const r = helmTemplate(v.values, v.opts);
    t.ok(r.docs.length > 10, `${r.docs.length} objects`);
    for (const [i, doc] of r.docs.entries()) {
      const where = `${r.sources[i] ?? ''} ${String(doc.kind)} ${String(doc.metadata?.name)}`;
      const api = String(doc.apiVersion);
      const problems = api.startsWith('monitoring.coreos.com/') ? monitoringProblems(doc) : api.startsWith('cert-manager.io/') ? certManagerProblems(doc) : await manifestProblems(doc);
      t.same(problems, [], `${where} validates against its schema`);
    }
    v.check?.(t, r);
  });
}
