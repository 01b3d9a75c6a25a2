// The objects `weft ca` creates with generated trust carry Helm's ownership metadata for the release
// the chart names (WEFT_CA_HELM_RELEASE), so a later `helm upgrade` with supplied trust adopts them.
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { FakeTimers } from '../../support/fake-timers.js';
import { TestApiServer, type KubeObject } from '../../support/test-apiserver.js';
import { testApiConnection } from '../../support/kube-connection.js';
import { helmTemplate } from '../charts/helm.js';
import { parseCaConfig, startCaService } from '../../../ca/service.js';
import { ownerMetadata } from '../../../ca/ownership.js';
import { publishTrustAnchors } from '../../../ca/material.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';

type Meta = { labels?: Record<string, string>; annotations?: Record<string, string> };
const meta = (o: KubeObject | undefined): Meta => (o?.metadata ?? {});

/** Starts `weft ca` (generated trust) in namespace `ns` against a fresh test API server with `env`. */
async function startCa(t: Test, ns: string, env: Record<string, string>): Promise<{ api: TestApiServer; client: KubeClient }> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const client = new KubeClient(testApiConnection(api, api.adminToken, ns));
  const dir = await mkdtemp(join(tmpdir(), 'weft-rt-owner-'));
  const controller = new AbortController();
  const config = parseCaConfig({ WEFT_CA_LISTEN_ADDR: '127.0.0.1:0', WEFT_ADMIN_ADDR: '127.0.0.1:0', WEFT_CA_ISSUER_DIR: join(dir, 'issuer'), WEFT_TRUST_ANCHORS_FILE: join(dir, 'trust', 'roots.pem'), ...env });
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const ca = await startCaService(config, { log: createLogger({ level: 'info', name: 'ca', destination: sink }), registry: new Registry(), client, shutdown: controller.signal, timers: new FakeTimers(Date.now()) });
  t.teardown(async () => {
    controller.abort();
    await ca?.close();
    client.close();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { api, client };
}

t.test('ownerMetadata: weft-ca alone without a release; Helm\'s label and both annotations with one', async (t) => {
  t.same(ownerMetadata(undefined), { labels: { 'app.kubernetes.io/managed-by': 'weft-ca' }, annotations: {} });
  t.same(ownerMetadata({ name: 'mesh', namespace: 'mesh-system' }), {
    labels: { 'app.kubernetes.io/managed-by': 'Helm' },
    annotations: { 'meta.helm.sh/release-name': 'mesh', 'meta.helm.sh/release-namespace': 'mesh-system', 'weft.dev/created-by': 'weft-ca' },
  });
});

t.test('with WEFT_CA_HELM_RELEASE the created Secret and trust-anchors ConfigMap carry Helm ownership for that release', async (t) => {
  const { api } = await startCa(t, 'mesh-system', { WEFT_CA_HELM_RELEASE: 'mesh', WEFT_CA_HELM_RELEASE_NAMESPACE: 'mesh-system', WEFT_POD_NAMESPACE: 'mesh-system' });
  for (const [kind, name] of [['Secret', 'weft-ca-issuer'], ['ConfigMap', 'weft-trust-anchors']] as const) {
    const m = meta(api.get('v1', kind, 'mesh-system', name));
    t.equal(m.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${kind} ${name}: managed-by=Helm`);
    t.equal(m.annotations?.['meta.helm.sh/release-name'], 'mesh', `${kind} ${name}: release-name`);
    t.equal(m.annotations?.['meta.helm.sh/release-namespace'], 'mesh-system', `${kind} ${name}: release-namespace`);
    t.equal(m.annotations?.['weft.dev/created-by'], 'weft-ca');
  }
});

t.test("the release namespace defaults to the CA's own; without a release the objects say weft-ca made them", async (t) => {
  const named = await startCa(t, 'weft-system', { WEFT_CA_HELM_RELEASE: 'weft', WEFT_POD_NAMESPACE: 'weft-system' });
  t.equal(meta(named.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer')).annotations?.['meta.helm.sh/release-namespace'], 'weft-system');
  const bare = await startCa(t, 'weft-system', { WEFT_POD_NAMESPACE: 'weft-system' });
  const m = meta(bare.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors'));
  t.equal(m.labels?.['app.kubernetes.io/managed-by'], 'weft-ca');
  t.equal(m.annotations?.['meta.helm.sh/release-name'], undefined, 'no Helm annotation without a release');
});

t.test('re-publishing the trust anchors keeps the labels and annotations others added', async (t) => {
  const { api, client } = await startCa(t, 'weft-system', { WEFT_CA_HELM_RELEASE: 'weft', WEFT_POD_NAMESPACE: 'weft-system' });
  const cm = api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors') as KubeObject;
  const m = meta(cm);
  api.apply({ ...cm, metadata: { ...cm.metadata, labels: { ...m.labels, team: 'platform' }, annotations: { ...m.annotations, note: 'kept' } } });
  const outcome = await publishTrustAnchors(client, 'weft-system', 'weft-trust-anchors', 'not the same roots\n', ownerMetadata({ name: 'weft', namespace: 'weft-system' }));
  t.equal(outcome, 'updated');
  const after = meta(api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors'));
  t.equal(after.labels?.['team'], 'platform');
  t.equal(after.annotations?.['note'], 'kept');
  t.equal(after.annotations?.['meta.helm.sh/release-name'], 'weft');
});

t.test("the chart passes the release's own name and namespace to the CA", async (t) => {
  const docs = helmTemplate({}, { releaseName: 'mesh', namespace: 'mesh-system' }).docs as KubeObject[];
  const ca = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'weft-ca') as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } } | undefined;
  const env = ca?.spec.template.spec.containers[0]?.env ?? [];
  t.equal(env.find((e) => e.name === 'WEFT_CA_HELM_RELEASE')?.value, 'mesh');
  t.equal(env.find((e) => e.name === 'WEFT_CA_HELM_RELEASE_NAMESPACE')?.value, 'mesh-system');
});
