// `weft injector` as a process: a serving certificate made with openssl (as cert-manager would),
// curl as the API server's stand-in, SIGTERM to stop, and the start-up errors.
import t from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_MAIN, randomBase } from '../support/local-mesh.js';
import { waitForOutput } from '../support/child-output.js';

/** The injector's start-up line, with the port it took. */
const LISTENING = /listening on https:\/\/\S+:(\d+)\n/;

const dir = mkdtempSync(join(tmpdir(), 'weft-injector-e2e-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const host = `${randomBase()}.1`;
execFileSync('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
  '-subj', '/CN=weft-injector.weft-system.svc',
  '-addext', `subjectAltName=DNS:weft-injector.weft-system.svc,IP:${host}`,
  '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'),
], { stdio: 'ignore' });

function start(env: Record<string, string>): { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [WEFT_MAIN, 'injector'], { env: { PATH: process.env['PATH'] ?? '', WEFT_ADMIN_ADDR: `${host}:0`, ...env } });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return { child, stdout: () => out, stderr: () => err, exit: new Promise((r) => child.once('exit', r)) };
}

function curl(args: string[]): string {
  return execFileSync('curl', ['-sS', '--cacert', join(dir, 'tls.crt'), ...args], { encoding: 'utf8' });
}

t.test('serves reviews over HTTPS to curl and stops cleanly on SIGTERM', async (t) => {
  // The self-signed serving certificate doubles as a trust anchors PEM for this test.
  const p = start({ WEFT_INJECTOR_ADDR: `${host}:0`, WEFT_INJECTOR_TLS_DIR: dir, WEFT_INJECTOR_IMAGE: 'registry.local/weft:e2e', WEFT_INJECTOR_TRUST_ANCHORS_FILE: join(dir, 'tls.crt') });
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const port = Number((await waitForOutput(p.child, p.stdout, LISTENING, 60_000))[1]);
  t.ok(port > 0, `listening (${p.stderr()})`);
  t.comment(`injector stdout: ${p.stdout().trim()}`);
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'e2e-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'shop',
      object: { metadata: { name: 'web' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
    },
  };
  writeFileSync(join(dir, 'review.json'), JSON.stringify(review));
  const base = `https://${host}:${port}`;
  const answer = JSON.parse(curl(['-H', 'content-type: application/json', '--data-binary', `@${join(dir, 'review.json')}`, `${base}/mutate/ns-enabled`])) as {
    response: { uid: string; patch: string; patchType: string };
  };
  t.equal(answer.response.uid, 'e2e-1');
  t.equal(answer.response.patchType, 'JSONPatch');
  t.match(Buffer.from(answer.response.patch, 'base64').toString(), /registry\.local\/weft:e2e/, 'settings from the environment reach the patch');
  const anchorsEnv = (JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) as { value: unknown }[])
    .flatMap((o) => (Array.isArray(o.value) ? o.value : [o.value]) as { name?: string; env?: { name: string; value?: string }[] }[])
    .find((c) => c.name === 'weft-proxy')?.env?.find((e) => e.name === 'WEFT_TRUST_ANCHORS')?.value;
  t.equal(anchorsEnv?.trim(), execFileSync('cat', [join(dir, 'tls.crt')], { encoding: 'utf8' }).trim(), 'the mounted trust anchors reach the proxy env');
  const status = curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', 'content-type: application/json', '--data-binary', '{"kind":1}', `${base}/mutate`]);
  t.equal(status, '400');
  t.match(curl([`${base}/metrics`]), /weft_injector_reviews_total\{result="injected"\} 1/);
  t.equal(curl(['-o', '/dev/null', '-w', '%{http_code}', `${base}/ready`]), '200');
  // Served every request above and still running: the exit below is SIGTERM's doing.
  t.equal(p.child.exitCode, null, `the injector is still running (stderr: ${p.stderr()})`);
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0, 'exit 0 after SIGTERM');
});

t.test('a missing certificate or a bad setting stops it at start with the code', async (t) => {
  const noCert = start({ WEFT_INJECTOR_ADDR: `${host}:0`, WEFT_INJECTOR_TLS_DIR: join(dir, 'absent') });
  t.equal(await noCert.exit, 1);
  t.match(noCert.stderr(), /WEFT_ERR_SERVING_CERT: cannot read .*absent\/tls\.crt/);
  const badEnv = start({ WEFT_INJECTOR_ADDR: 'nowhere:port', WEFT_INJECTOR_TLS_DIR: dir, WEFT_INJECTOR_INBOUND_MODE: 'loose' });
  t.equal(await badEnv.exit, 2, "a bad setting is bad input: exit 2, as for the other servers");
  t.match(badEnv.stderr(), /WEFT_ERR_CONFIG/);
  t.match(badEnv.stderr(), /WEFT_INJECTOR_ADDR="nowhere:port"/);
  t.match(badEnv.stderr(), /WEFT_INJECTOR_INBOUND_MODE="loose" must be one of strict, permissive/);
});

t.test('without its trust anchors file the injector runs but refuses pods with a coded error', async (t) => {
  const p = start({ WEFT_INJECTOR_ADDR: `${host}:0`, WEFT_INJECTOR_TLS_DIR: dir, WEFT_INJECTOR_TRUST_ANCHORS_FILE: join(dir, 'absent.pem') });
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const port = Number((await waitForOutput(p.child, p.stdout, LISTENING, 60_000))[1]);
  t.ok(port > 0, `listening (${p.stderr()})`);
  t.match(p.stdout() + p.stderr(), /WEFT_ERR_INJECT_NO_TRUST_ANCHORS[\s\S]*absent\.pem/, 'the missing file is logged with its code');
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'e2e-2', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: { metadata: { name: 'web' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
  };
  writeFileSync(join(dir, 'review2.json'), JSON.stringify(review));
  const answer = JSON.parse(curl(['-H', 'content-type: application/json', '--data-binary', `@${join(dir, 'review2.json')}`, `https://${host}:${port}/mutate/ns-enabled`])) as {
    response: { allowed: boolean; patch?: string; status: { code: number; message: string } };
  };
  t.equal(answer.response.allowed, false);
  t.equal(answer.response.patch, undefined);
  t.equal(answer.response.status.code, 500);
  t.match(answer.response.status.message, /^WEFT_ERR_INJECT_NO_TRUST_ANCHORS: .*absent\.pem/);
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
});
