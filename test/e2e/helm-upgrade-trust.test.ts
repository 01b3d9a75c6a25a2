// End to end: the real Helm 4 installs charts/weft with generated trust into the test API server,
// the real `weft ca` then creates weft-trust-anchors and weft-ca-issuer there as in a cluster, and
// `helm upgrade` with supplied trust adopts those objects (docs/rotate-trust.md) -- and refuses them
// when they lack Helm's ownership metadata, which shows that metadata is what makes it work.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateAuthorityPem } from '../../lib/pki/store.js';
import { helmBinary } from '../unit/charts/helm.js';
import { KubeMesh } from '../support/kube-mesh.js';
import { randomBase } from '../support/local-mesh.js';
import { CHART_RESOURCES } from '../support/rbac-authorizer.js';

const CHART = new URL('../../charts/weft', import.meta.url).pathname;
const CRDS = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', singular: 'customresourcedefinition', kind: 'CustomResourceDefinition', namespaced: false, statusSubresource: true } as const;

interface HelmRun {
  readonly code: number | null;
  readonly out: string;
}

/** Runs the pinned Helm against the mesh's API server as cluster admin. */
async function helm(mesh: KubeMesh, args: readonly string[]): Promise<HelmRun> {
  const kubeconfig = join(mesh.dir, 'admin.kubeconfig');
  await writeFile(kubeconfig, mesh.api.kubeconfig(), { mode: 0o600 });
  const child = spawn(helmBinary(), [...args, '--kubeconfig', kubeconfig], { env: { PATH: process.env.PATH ?? '', HOME: mesh.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out };
}

// The test API server serves no OpenAPI documents; Helm validates against them unless told not to.
const INSTALL = ['install', 'weft', CHART, '-n', 'weft-system', '--disable-openapi-validation'];

/** A cluster with weft installed by Helm (generated trust) and `weft ca` run once against it. */
async function installedCluster(caEnv: Record<string, string>): Promise<KubeMesh> {
  const mesh = await KubeMesh.create();
  t.teardown(() => mesh.close());
  for (const def of [...CHART_RESOURCES, CRDS]) mesh.api.addResource(def);
  const install = await helm(mesh, INSTALL);
  if (install.code !== 0) throw new Error(`helm install failed:\n${install.out}`);
  const ca = await mesh.startCa(`${randomBase()}.1`, caEnv);
  // Only the objects it created are wanted: a CA left running could rewrite them under the upgrade.
  ca.child.kill('SIGTERM');
  await ca.exited;
  return mesh;
}

const supplied = await generateAuthorityPem('cluster.local', new Date(), { rootHours: 24 * 30, issuerHours: 24 * 7 });
const suppliedFiles = async (mesh: KubeMesh): Promise<string[]> => {
  await writeFile(join(mesh.dir, 'root.pem'), supplied.rootCert);
  await writeFile(join(mesh.dir, 'issuer.pem'), supplied.issuerCert);
  await writeFile(join(mesh.dir, 'issuer.key'), supplied.issuerKey);
  return [
    '--set-file', `identity.trustAnchorsPEM=${join(mesh.dir, 'root.pem')}`,
    '--set-file', `identity.issuer.certPEM=${join(mesh.dir, 'issuer.pem')}`,
    '--set-file', `identity.issuer.keyPEM=${join(mesh.dir, 'issuer.key')}`,
  ];
};
const UPGRADE = ['upgrade', 'weft', CHART, '-n', 'weft-system', '--disable-openapi-validation'];
const b64 = (s: string): string => Buffer.from(s.trim()).toString('base64');

t.test('helm install writes its release record and creates the chart objects in the test API server', async (t) => {
  const mesh = await installedCluster({ WEFT_CA_HELM_RELEASE: 'weft', WEFT_CA_HELM_RELEASE_NAMESPACE: 'weft-system' });
  // The release record is a Secret Helm sends as protobuf: read, stored, listed back by Helm.
  const record = mesh.api.get('v1', 'Secret', 'weft-system', 'sh.helm.release.v1.weft.v1');
  t.match(record?.metadata.labels, { owner: 'helm', name: 'weft', status: 'deployed' });
  t.equal(record?.['type'], 'helm.sh/release.v1');
  for (const name of ['weft-ca', 'weft-injector', 'weft-destination']) t.ok(mesh.api.get('apps/v1', 'Deployment', 'weft-system', name), `Deployment ${name} created`);
  t.notOk(mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.metadata.labels?.['helm.sh/chart'], 'the chart renders no trust anchors with generated trust');
  const list = await helm(mesh, ['list', '-n', 'weft-system', '-o', 'json']);
  t.match(JSON.parse(list.out) as unknown, [{ name: 'weft', revision: '1', status: 'deployed' }]);
});

t.test('helm upgrade to supplied trust adopts the objects weft ca created (with --force-conflicts under server-side apply)', async (t) => {
  const mesh = await installedCluster({ WEFT_CA_HELM_RELEASE: 'weft', WEFT_CA_HELM_RELEASE_NAMESPACE: 'weft-system' });
  const before = mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
  t.match(before?.metadata, { labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'weft', 'meta.helm.sh/release-namespace': 'weft-system' } });
  const generatedRoot = (before?.['data'] as Record<string, string>)['roots.pem'] ?? '';
  const files = await suppliedFiles(mesh);

  // Helm 4 applies server side; the fields weft ca wrote are its own, so a plain upgrade conflicts.
  const plain = await helm(mesh, [...UPGRADE, ...files]);
  t.not(plain.code, 0, 'a plain upgrade fails');
  t.match(plain.out, /conflict occurred while applying[\s\S]*conflict with "weft"/);
  t.notMatch(plain.out, /invalid ownership metadata/, 'ownership is not what stops it');
  t.equal((mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'] as Record<string, string>)['roots.pem'], generatedRoot, 'nothing changed');

  const forced = await helm(mesh, [...UPGRADE, ...files, '--force-conflicts']);
  t.equal(forced.code, 0, forced.out);
  const cm = mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
  t.equal((cm?.['data'] as Record<string, string>)['roots.pem']?.trim(), supplied.rootCert.trim(), 'the trust anchors are the supplied root');
  t.match(cm?.metadata.labels, { 'app.kubernetes.io/managed-by': 'Helm', 'helm.sh/chart': /^weft-/ }, 'now rendered by the chart');
  const secret = mesh.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer');
  const data = secret?.['data'] as Record<string, string>;
  t.equal(data['tls.crt'], b64(supplied.issuerCert), 'the issuer certificate is the supplied one');
  t.equal(data['tls.key'], b64(supplied.issuerKey), 'the issuer key is the supplied one');
  t.equal(data['ca.crt'], b64(supplied.rootCert));
  t.ok(data['root.key'], 'server-side apply keeps the generated root key the chart does not render (remove it by hand, docs/rotate-trust.md)');
  const list = await helm(mesh, ['list', '-n', 'weft-system', '-o', 'json']);
  t.match(JSON.parse(list.out) as unknown, [{ name: 'weft', revision: '3', status: 'deployed' }], 'the failed upgrade is revision 2, the adopting one 3');
});

t.test('without the ownership metadata the same upgrade fails with Helm\'s ownership error', async (t) => {
  const mesh = await installedCluster({});
  const before = mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
  t.equal(before?.metadata.labels?.['app.kubernetes.io/managed-by'], 'weft-ca');
  const forced = await helm(mesh, [...UPGRADE, ...(await suppliedFiles(mesh)), '--force-conflicts']);
  t.not(forced.code, 0);
  t.match(forced.out, /invalid ownership metadata/);
  t.match(forced.out, /exists and cannot be imported into the current release/);
  t.match(forced.out, /key "app\.kubernetes\.io\/managed-by" must equal "Helm": current value is "weft-ca"/);
  t.same(mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'], before?.['data'], 'the CA\'s objects are untouched');
});
