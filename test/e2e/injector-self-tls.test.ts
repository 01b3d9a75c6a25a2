// `weft injector` with WEFT_INJECTOR_TLS_PROVIDER=self as a real process against the test API
// server, which holds the chart's render for `injector.tls.provider: injector` and judges every
// request by the chart's own RBAC: not ready without its Secret, then it writes the caBundle, serves
// a certificate that verifies against it with the Service's names, and on a short validity renews
// and serves the new certificate without a restart.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { WEFT_MAIN, randomBase } from '../support/local-mesh.js';
import { waitForOutput } from '../support/child-output.js';
import { TestApiServer, type KubeObject } from '../support/test-apiserver.js';
import { CHART_RESOURCES, rbacAuthorizer } from '../support/rbac-authorizer.js';
import { helmTemplate } from '../unit/charts/helm.js';

const NS = 'weft-system';
const SERVICE_NAME = `weft-injector.${NS}.svc`;
const LISTENING = /listening on https:\/\/\S+:(\d+)\n/;
const ADMIN = /admin on http:\/\/(\S+)\n/;
const LIFETIME_SECONDS = 30;

const dir = mkdtempSync(join(tmpdir(), 'weft-injcert-e2e-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const host = `${randomBase()}.1`;

const api = await TestApiServer.start();
t.teardown(() => api.stop());
for (const def of CHART_RESOURCES) api.addResource(def);
api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
const render = helmTemplate({ injector: { tls: { provider: 'injector' } }, crds: { install: false } }, { namespace: NS }).docs as KubeObject[];
// Everything but the Secret for now: the injector must wait for it, not ready.
const placeholder = render.find((d) => d.kind === 'Secret' && d.metadata.name === 'weft-injector-self-tls');
if (!placeholder) throw new Error('the chart rendered no weft-injector-self-tls Secret');
for (const doc of render) if (doc !== placeholder) api.apply(doc);
// From here on every request is judged by the chart's Roles and bindings, as a cluster would.
api.setAuthorizer(rbacAuthorizer(api));
const kubeconfig = join(dir, 'injector.kubeconfig');
writeFileSync(kubeconfig, api.kubeconfig(api.issueToken({ namespace: NS, serviceAccount: 'weft-injector', expiresAt: new Date(Date.now() + 3_600_000) }), NS));

const caBundles = (): string[] =>
  ((api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'weft-injector')?.['webhooks'] ?? []) as { clientConfig: { caBundle?: string } }[])
    .map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));

/** Connects as the API server would: trusting only `ca`, checking the Service's name. */
function handshake(port: number, ca: string): Promise<{ ok: boolean; error?: string; serial?: string; sans?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host, port, ca, servername: SERVICE_NAME }, () => {
      const peer = s.getPeerCertificate();
      s.end();
      resolve({ ok: true, serial: peer.serialNumber, sans: peer.subjectaltname });
    });
    s.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

t.test('the injector makes, serves and renews its own webhook certificate under the chart RBAC', async (t) => {
  const child: ChildProcess = spawn(process.execPath, [WEFT_MAIN, 'injector'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      KUBECONFIG: kubeconfig,
      WEFT_INJECTOR_ADDR: `${host}:0`,
      WEFT_ADMIN_ADDR: `${host}:0`,
      WEFT_INJECTOR_TLS_PROVIDER: 'self',
      WEFT_INJECTOR_TLS_SELF_LIFETIME_SECONDS: String(LIFETIME_SECONDS),
      WEFT_INJECTOR_TRUST_ANCHORS_FILE: join(dir, 'absent.pem'),
    },
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', r));

  const adminAddr = (await waitForOutput(child, () => out, ADMIN, 60_000))[1];
  await waitForOutput(child, () => out, /Secret weft-system\/weft-injector-self-tls not found/, 30_000);
  const notReady = await fetch(`http://${adminAddr}/ready`);
  t.equal(notReady.status, 503, 'not ready while it has no certificate');
  t.match(await notReady.text(), /no webhook serving certificate yet/);
  t.notMatch(out, LISTENING, 'and the webhook is not listening yet');

  api.apply(placeholder);
  const port = Number((await waitForOutput(child, () => out, LISTENING, 60_000))[1]);
  t.equal((await fetch(`http://${adminAddr}/ready`)).status, 200, 'ready once it serves a certificate');
  const first = caBundles();
  t.equal(first.length, 2, 'both webhooks');
  t.equal(first[0], first[1], 'carry the same caBundle');
  t.match(first[0], /^-----BEGIN CERTIFICATE-----/, 'which the injector wrote (the chart renders none)');
  const before = await handshake(port, first[0] ?? '');
  t.ok(before.ok, `the served certificate verifies against the caBundle (${before.error ?? ''})`);
  t.equal(before.sans, ['weft-injector.weft-system.svc', 'weft-injector', 'weft-injector.weft-system', 'weft-injector.weft-system.svc.cluster.local'].map((n) => `DNS:${n}`).join(', '), "with the Service's names");
  const stranger = await new Promise<boolean>((resolve) => {
    const s = connect({ host, port, ca: first[0] ?? '', servername: 'other.weft-system.svc' }, () => (s.end(), resolve(true)));
    s.on('error', () => resolve(false));
  });
  t.notOk(stranger, 'a name it does not carry is refused');

  // Renewal at two thirds of the 30 s life: wait on the second "in use" line, the swap itself.
  await waitForOutput(child, () => out, /certificate in use[\s\S]*certificate in use/, 90_000);
  const after = caBundles();
  t.not(after[0], first[0], 'the caBundle changed');
  const cas = (after[0] ?? '').split(/(?=-----BEGIN CERTIFICATE-----)/);
  t.equal(cas.length, 2, 'the new CA and, during the overlap, the old one');
  t.equal(cas[1]?.trim(), first[0]?.trim(), 'the old CA is the second');
  const renewed = await handshake(port, cas[0] ?? '');
  t.ok(renewed.ok, `the renewed certificate verifies against the new CA alone (${renewed.error ?? ''})`);
  t.not(renewed.serial, before.serial, 'a new serial is served on the same port');
  t.ok((await handshake(port, after[0] ?? '')).ok, 'and against the caBundle the API server now holds');
  t.equal(child.exitCode, null, 'the same process: no restart');
  t.equal(out.match(/listening on https/g)?.length, 1, 'it listened once');

  child.kill('SIGTERM');
  t.equal(await exit, 0, 'exit 0 after SIGTERM');
});
