import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeConnectionFromEnv, TOKEN_REREAD_MS } from '../../../../lib/kube/config.js';
import { isWeftError } from '../../../../lib/errors.js';
import { TestApiServer } from '../../../support/test-apiserver.js';
import { KubeClient } from '../../../../lib/kube/client.js';

t.test('in-cluster: reads token, CA and namespace, and re-reads a rotated token', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-sa-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'token'), 'first\n');
  await writeFile(join(dir, 'ca.crt'), 'CA PEM');
  await writeFile(join(dir, 'namespace'), 'shop');
  let now = 1000;
  const conn = await kubeConnectionFromEnv({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, { inClusterDir: dir, now: () => now });
  t.equal(conn.server, 'https://10.96.0.1:443');
  t.equal(conn.caPem, 'CA PEM');
  t.equal(conn.namespace, 'shop');
  t.equal(await conn.authorization(), 'Bearer first');
  await writeFile(join(dir, 'token'), 'second\n');
  t.equal(await conn.authorization(), 'Bearer first', 'cached within the re-read interval');
  now += TOKEN_REREAD_MS + 1;
  t.equal(await conn.authorization(), 'Bearer second');
  const v6 = await kubeConnectionFromEnv({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, { inClusterDir: dir });
  t.equal(v6.server, 'https://[fd00::1]:443');
});

t.test('no configuration at all is a WEFT_ERR_KUBE_CONFIG naming both ways', async (t) => {
  const err = await kubeConnectionFromEnv({}).catch((e: unknown) => e);
  t.ok(isWeftError(err, 'WEFT_ERR_KUBE_CONFIG'));
  t.match((err as Error).message, /KUBECONFIG.*KUBERNETES_SERVICE_HOST/);
  const missing = await kubeConnectionFromEnv({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, { inClusterDir: '/nonexistent' }).catch((e: unknown) => e);
  t.ok(isWeftError(missing, 'WEFT_ERR_KUBE_CONFIG'));
  t.match((missing as Error).message, /ca\.crt/);
  const badFile = await kubeConnectionFromEnv({ KUBECONFIG: '/nonexistent/a:/nonexistent/b' }).catch((e: unknown) => e);
  t.ok(isWeftError(badFile, 'WEFT_ERR_KUBE_CONFIG'));
});

t.test('KUBECONFIG: loads server, CA, token and namespace and talks to the API server', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  const dir = await mkdtemp(join(tmpdir(), 'weft-kc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config');
  await writeFile(file, api.kubeconfig(api.adminToken, 'shop'));
  const conn = await kubeConnectionFromEnv({ KUBECONFIG: `/nonexistent:${file}`, KUBERNETES_SERVICE_HOST: 'ignored', KUBERNETES_SERVICE_PORT: '1' });
  t.equal(conn.server, api.url);
  t.equal(conn.namespace, 'shop');
  t.equal(conn.source, file);
  t.equal(await conn.authorization(), `Bearer ${api.adminToken}`);
  const client = new KubeClient(conn);
  t.teardown(() => client.close());
  const ns = await client.request<{ metadata: { name: string } }>('GET', '/api/v1/namespaces/default');
  t.equal(ns.metadata.name, 'default');
  const err = await client.request('GET', '/api/v1/namespaces/nope').catch((e: unknown) => e);
  t.match(err, { code: 'WEFT_ERR_KUBE_API', apiStatus: 404, reason: 'NotFound' });
  await writeFile(file, 'not: [a kubeconfig');
  t.ok(isWeftError(await kubeConnectionFromEnv({ KUBECONFIG: file }).catch((e: unknown) => e), 'WEFT_ERR_KUBE_CONFIG'));
});

t.test('the client refuses an API server its CA does not vouch for', async (t) => {
  const api = await TestApiServer.start();
  const other = await TestApiServer.start();
  t.teardown(() => Promise.all([api.stop(), other.stop()]));
  const dir = await mkdtemp(join(tmpdir(), 'weft-kc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config');
  // The kubeconfig of `other` (its CA) aimed at `api`'s address.
  await writeFile(file, other.kubeconfig().replace(other.url, api.url));
  const client = new KubeClient(await kubeConnectionFromEnv({ KUBECONFIG: file }));
  t.teardown(() => client.close());
  const err = await client.request('GET', '/api/v1/namespaces').catch((e: unknown) => e);
  t.ok(isWeftError(err, 'WEFT_ERR_KUBE_UNREACHABLE'));
  t.match((err as Error).message, /certificate|self.signed|verify/i);
});
