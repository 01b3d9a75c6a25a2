// Helm's `lookup` for real: `helm template --dry-run=server` against the test API server, so the
// chart's reuse of the webhook Secret from a previous release is Helm's own behaviour.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer } from '../../support/test-apiserver.js';
import { CHART_RESOURCES } from '../../support/rbac-authorizer.js';
import { CHART_DIR, find, helmBinary, parseRendered, type Doc } from './helm.js';

const api = await TestApiServer.start();
t.teardown(() => api.stop());
// Helm maps every rendered kind through discovery, so the server must serve the chart's kinds.
for (const def of CHART_RESOURCES) api.addResource(def);
const dir = mkdtempSync(join(tmpdir(), 'weft-chart-lookup-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, JSON.stringify({
  apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
  clusters: [{ name: 'test', cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.caPem).toString('base64') } }],
  users: [{ name: 'admin', user: { token: api.adminToken } }],
  contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'weft-system' } }],
}));

// Asynchronous: the API server answers from this same process, so helm must not block it.
function templateAgainstServer(): Promise<{ status: number; stdout: string; stderr: string }> {
  const child = spawn(helmBinary(), ['template', 'weft', CHART_DIR, '--namespace', 'weft-system', '--dry-run=server', '--disable-openapi-validation', '--set', 'crds.install=false', '--kubeconfig', kubeconfig], {
    env: { ...process.env, HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

t.test('an upgrade reuses the webhook certificate it made before (Helm lookup), so the caBundle stays', async (t) => {
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const previous = { 'tls.crt': 'Y3J0', 'tls.key': 'a2V5', 'ca.crt': 'Y2E=' };
  // As the previous release left it: owned by Helm (else Helm refuses to adopt it).
  const owner = { labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'weft', 'meta.helm.sh/release-namespace': 'weft-system' } };
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weft-injector-tls', namespace: 'weft-system', ...owner }, type: 'kubernetes.io/tls', data: previous });
  const run = await templateAgainstServer();
  t.equal(run.status, 0, run.stderr);
  const r = parseRendered(run.stdout);
  t.same(find(r, 'Secret', 'weft-injector-tls')?.data, previous);
  t.equal((find(r, 'MutatingWebhookConfiguration', 'weft-injector')?.webhooks as Doc[])[0]?.clientConfig.caBundle, 'Y2E=');
});
