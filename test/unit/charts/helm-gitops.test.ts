// GitOps mode: `helm template` renders the same bytes every time for the same values, except the
// webhook's generated certificate pair (Secret weft-injector-tls and the caBundle that trusts it),
// which Helm makes afresh on each render unless injector.tls.existingSecret is set. That pair is
// still checked: the caBundle signs the serving certificate, which names the injector's Service.
import t from 'tap';
// The project's x509 (reflect-metadata loaded, WebCrypto provider set).
import { x509 } from '../../../lib/pki/crypto.js';
import { find, helmTemplate, type Doc } from './helm.js';

const GENERATED = /^(\s*(?:tls\.crt|tls\.key|ca\.crt|caBundle):) \S+$/gm;
/** The render with the generated certificate fields blanked. */
const masked = (text: string): string => text.replace(GENERATED, '$1 <generated>');

const VALUES: readonly { name: string; values: Record<string, unknown> }[] = [
  { name: 'defaults', values: {} },
  { name: 'production-like', values: { image: { repository: 'registry.example.com/weft', digest: `sha256:${'ab'.repeat(32)}` }, imagePullSecrets: ['regcred'], commonLabels: { team: 'platform' }, gateway: { enabled: true, autoscaling: { enabled: true }, tlsSecrets: [{ namespace: 'edge', name: 'api-tls' }] }, monitoring: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } } } },
  { name: 'scheduling values', values: { ca: { priorityClassName: 'weft-critical', podLabels: { a: 'b' }, tolerations: [{ key: 'k', operator: 'Exists' }] }, gateway: { enabled: true, topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }] } } },
];

for (const v of VALUES) {
  t.test(`${v.name}: two renders are byte-identical except the generated webhook certificate pair`, async (t) => {
    const a = helmTemplate(v.values);
    const b = helmTemplate(v.values);
    t.equal(masked(a.text), masked(b.text), 'every other byte is the same');
    const changed = a.docs.map((d, i) => [d, b.docs[i]] as const).filter(([x, y]) => JSON.stringify(x) !== JSON.stringify(y)).map(([x]) => `${String(x.kind)}/${String(x.metadata?.name)}`);
    t.same(changed.sort(), ['MutatingWebhookConfiguration/weft-injector', 'Secret/weft-injector-tls'], 'only the webhook pair differs (a fresh pair per render)');
  });
}

t.test('with injector.tls.existingSecret (e.g. cert-manager) the render is fully byte-identical', async (t) => {
  const values = { injector: { tls: { existingSecret: 'injector-cert', caBundlePEM: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' } } };
  t.equal(helmTemplate(values).text, helmTemplate(values).text);
});

t.test('with injector.tls.provider cert-manager the render is byte-identical and holds no generated material', async (t) => {
  for (const values of [{ injector: { tls: { provider: 'cert-manager' } } }, { injector: { tls: { provider: 'cert-manager', certManager: { issuerName: 'corp-ca', issuerKind: 'ClusterIssuer' } } } }]) {
    const a = helmTemplate(values);
    const b = helmTemplate(values);
    t.equal(a.text, b.text, `${JSON.stringify(values)}: byte-identical`);
    t.notOk(a.docs.some((d) => d.kind === 'Secret'), 'no Secret rendered');
    t.notMatch(a.text, /caBundle:|BEGIN CERTIFICATE|tls\.key/, 'no certificate, key or caBundle in the output');
    t.ok(find(a, 'Certificate', 'weft-injector'), 'the Certificate cert-manager issues from');
  }
  // The check can fail: the default mode's two renders differ.
  t.not(helmTemplate({}).text, helmTemplate({}).text, 'provider helm renders a fresh pair each time');
});

t.test('with injector.tls.provider injector the render is byte-identical: an empty Secret, no caBundle, the injector told to make its own', async (t) => {
  for (const values of [{ injector: { tls: { provider: 'injector' } } }, { injector: { tls: { provider: 'injector', injector: { lifetimeHours: 720 } } }, gateway: { enabled: true } }]) {
    const a = helmTemplate(values);
    const b = helmTemplate(values);
    t.equal(a.text, b.text, `${JSON.stringify(values)}: byte-identical`);
    t.notMatch(a.text, /caBundle:|BEGIN CERTIFICATE|tls\.key/, 'no certificate, key or caBundle in the output');
    const secret = find(a, 'Secret', 'weft-injector-self-tls');
    t.equal(secret?.type, 'Opaque', 'the Secret the injector fills (Opaque: no pair yet)');
    t.equal(secret?.data, undefined, 'rendered without data, so an upgrade leaves what the injector wrote');
    t.notOk(find(a, 'Secret', 'weft-injector-tls'), 'no chart-generated pair');
    const pod = (find(a, 'Deployment', 'weft-injector')?.spec as Doc).template.spec as Doc;
    const env = Object.fromEntries(((pod.containers as Doc[])[0]?.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    t.equal(env['WEFT_INJECTOR_TLS_PROVIDER'], 'self');
    t.equal(env['WEFT_INJECTOR_TLS_SECRET'], 'weft-injector-self-tls');
    t.equal(env['WEFT_INJECTOR_WEBHOOK_CONFIGURATION'], 'weft-injector');
    const hours = (values.injector.tls as { injector?: { lifetimeHours: number } }).injector?.lifetimeHours ?? 2160;
    t.equal(env['WEFT_INJECTOR_TLS_SELF_LIFETIME_SECONDS'], String(hours * 3600), 'lifetime in seconds');
    t.equal(pod.automountServiceAccountToken, true, 'it needs its token in this mode');
    t.notOk((pod.volumes as Doc[]).some((v) => v.name === 'tls'), 'no certificate volume');
  }
});

t.test("the generated caBundle signs the serving certificate, which names the injector's Service", async (t) => {
  for (const ns of ['weft-system', 'mesh']) {
    const r = helmTemplate({}, { namespace: ns });
    const secret = find(r, 'Secret', 'weft-injector-tls');
    const pem = (key: string): string => Buffer.from(String(secret?.data[key]), 'base64').toString();
    const ca = new x509.X509Certificate(pem('ca.crt'));
    const leaf = new x509.X509Certificate(pem('tls.crt'));
    const webhooks = find(r, 'MutatingWebhookConfiguration', 'weft-injector')?.webhooks as Doc[];
    for (const w of webhooks) t.equal(w.clientConfig.caBundle, secret?.data['ca.crt'], `${String(w.name)}: caBundle is the Secret's CA`);
    t.ok(await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true }), `${ns}: the CA signed the serving certificate`);
    t.not(leaf.issuer, leaf.subject, 'not self-signed');
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    const dns = (san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value);
    const service = webhooks[0]?.clientConfig.service as Doc;
    t.ok(dns.includes(`${String(service.name)}.${String(service.namespace)}.svc`), `${ns}: names ${String(service.name)}.${String(service.namespace)}.svc (got ${dns.join(', ')})`);
    t.ok(leaf.notAfter.getTime() > Date.now(), 'not expired');
    // The check can fail: a certificate does not verify against an unrelated key.
    const other = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=other', keys: await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']), signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    t.notOk(await leaf.verify({ publicKey: other.publicKey, signatureOnly: true }), 'an unrelated key does not verify it');
  }
});
