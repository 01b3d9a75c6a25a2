// `weft check` as a real process against the test API server holding a rendered weft chart (its
// real RBAC evaluated by an RBAC authorizer), real certificates, and real local-mode proxies whose
// /metrics the check reads through pods/proxy: the wiring from flags and KUBECONFIG to the exit
// status and the report. Which part fails which check is decided by pure functions and tested in
// test/unit/check/ (failure-matrix.test.ts over the checks, gather.test.ts over what is read).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer } from '../support/test-apiserver.js';
import { makeTrust, NS, pem } from '../support/cluster-facts.js';
import { installHealthyWeft } from '../support/check-cluster.js';
import { LocalMesh, randomBase, WEFT_MAIN } from '../support/local-mesh.js';
import { createIssuer } from '../../lib/pki/authority.js';

const now = new Date();
const dir = await mkdtemp(join(tmpdir(), 'weft-check-'));
const trust = await makeTrust(now);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

// Two meshed pods whose proxies really run (local mode) on their own loopback addresses.
const mesh = await LocalMesh.create();
const base = randomBase();
const pods = [
  { name: 'web-7d9f8b6c5-abcde', address: `${base}.1`, serviceAccount: 'web' },
  { name: 'web-7d9f8b6c5-fghij', address: `${base}.2`, serviceAccount: 'web' },
];
await mesh.setServices([{ name: 'web', port: 80, targetPort: 8080, pods }]);
// Started together: each waits for its own /ready, and the waits overlap.
await Promise.all(pods.map((p) => mesh.startProxy(p)));
t.teardown(async () => {
  await mesh.close();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh test API server holding a healthy weft installation, and a kubeconfig for it. */
async function healthyCluster(t: Test): Promise<{ api: TestApiServer; kubeconfig: string }> {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  installHealthyWeft(api, trust, pods);
  const kubeconfig = join(dir, `kubeconfig-${api.port}`);
  await writeFile(kubeconfig, api.kubeconfig());
  return { api, kubeconfig };
}

interface Result { id: string; status: string; message: string; advice?: string }

/** Runs `weft check` as a real process; with `-o json` among args the results are parsed. */
function check(kubeconfig: string, args: string[] = ['-o', 'json']): Promise<{ code: number | null; results: Result[]; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEFT_MAIN, 'check', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let results: Result[] = [];
      try {
        results = (JSON.parse(stdout) as { results: Result[] }).results;
      } catch {
        // left empty: text output, or the assertions show stdout and stderr
      }
      resolve({ code, results, stdout, stderr });
    });
  });
}

const byId = (results: Result[], id: string): Result | undefined => results.find((r) => r.id === id);

t.test('a healthy cluster passes every check and exits 0', async (t) => {
  const { kubeconfig } = await healthyCluster(t);
  const r = await check(kubeconfig);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const notPassed = r.results.filter((x) => x.status !== 'pass');
  t.same(notPassed, [], 'nothing warns or fails');
  for (const id of ['api-reachable', 'kubernetes-version', 'native-sidecars', 'rbac-weft-ca', 'rbac-weft-gateway', 'rbac-weft-destination', 'ca-ready', 'root-expiry', 'issuer-expiry', 'issuer-chain', 'injector-ready', 'webhook-config', 'webhook-cabundle', 'webhook-reachable', 'gateway-ready', 'trust-bundle-shop', 'injected-shop', 'proxies-ready-shop', 'certificates-shop']) {
    t.equal(byId(r.results, id)?.status, 'pass', `${id} passes`);
  }
  t.match(byId(r.results, 'certificates-shop')?.message, 'all 2 proxy certificates are valid', "the real proxies' certificates were read through pods/proxy");
  t.match(byId(r.results, 'rbac-weft-ca')?.message, /weft-ca may do the \d+ things it needs/);
});

t.test('an expired issuer fails in the text report with the rotation advice and exits 1', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const longAgo = new Date(now.getTime() - 400 * 86_400_000);
  const expired = await createIssuer({ root: trust.root, trustDomain: 'cluster.local', now: longAgo, lifetimeHours: 24 });
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weft-ca-issuer', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(pem(expired)), 'tls.key': b64('(key)') } });
  const r = await check(kubeconfig, []);
  t.equal(r.code, 1, `exit 1 (stderr: ${r.stderr})`);
  t.match(r.stdout, /^kubernetes-api\n-+\n√ can reach the API server/m);
  t.match(r.stdout, /^× issuer .* expired on .*\n {4}.*docs\/rotate-trust\.md/m, 'the failure is marked and its advice follows');
  t.match(r.stdout, /Status check results are × \(\d+ passed, 0 warnings, 1 failed, 0 skipped\)/);
});

t.test('bad flags and a missing cluster configuration exit 3', async (t) => {
  const bad = await check(join(dir, 'none'), ['--output', 'yaml']);
  t.equal(bad.code, 3);
  t.match(bad.stderr, '--output "yaml" must be text or json');
  const nocluster = await check(join(dir, 'does-not-exist'));
  t.equal(nocluster.code, 3);
  t.match(nocluster.stderr, 'WEFT_ERR_KUBE_CONFIG');
});
