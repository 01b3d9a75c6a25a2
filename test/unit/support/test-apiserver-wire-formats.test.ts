// The test API server's protobuf reader and server-side apply: what Helm 4 sends (its release
// record as protobuf, every chart object as an apply patch) and the precise refusals otherwise.
import t from 'tap';
import { decodeProtobufObject } from '../../support/apiserver/protobuf.js';
import { TestApiServer } from '../../support/test-apiserver.js';
import { kubeRequest, type RawTarget } from '../../support/kube-request.js';
import type { StatusError } from '../../support/test-apiserver.js';

// A minimal protobuf writer, enough to build the envelopes client-go sends.
const varint = (n: number): Buffer => {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
};
const bytesField = (num: number, value: Buffer | string): Buffer => {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
};
const varintField = (num: number, value: number): Buffer => Buffer.concat([varint(num << 3), varint(value)]);
const entry = (num: number, k: string, v: Buffer | string): Buffer => bytesField(num, Buffer.concat([bytesField(1, k), bytesField(2, v)]));
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytesField(1, Buffer.concat([bytesField(1, apiVersion), bytesField(2, kind)])), bytesField(2, raw), bytesField(3, ''), bytesField(4, '')]);

const meta = Buffer.concat([bytesField(1, 'sh.helm.release.v1.weft.v1'), bytesField(3, 'weft-system'), entry(11, 'owner', 'helm'), entry(11, 'name', 'weft'), entry(12, 'note', 'a.b')]);

const statusOf = (fn: () => unknown): StatusError['status'] | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as StatusError).status;
  }
  return undefined;
};

t.test('reads a Secret envelope as Helm writes its release record: labels, binary data, type', async (t) => {
  const release = Buffer.from([0x1f, 0x8b, 0x00, 0xff]);
  const secret = decodeProtobufObject(envelope('v1', 'Secret', Buffer.concat([bytesField(1, meta), entry(2, 'release', release), bytesField(3, 'helm.sh/release.v1'), varintField(5, 1)])));
  t.same(secret, {
    apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1', immutable: true,
    metadata: { name: 'sh.helm.release.v1.weft.v1', namespace: 'weft-system', labels: { owner: 'helm', name: 'weft' }, annotations: { note: 'a.b' } },
    data: { release: release.toString('base64') },
  });
});

t.test('reads a ConfigMap envelope (HELM_DRIVER=configmap) and merges Secret stringData into data', async (t) => {
  const cm = decodeProtobufObject(envelope('v1', 'ConfigMap', Buffer.concat([bytesField(1, meta), entry(2, 'release', 'H4sI')])));
  t.same(cm['data'], { release: 'H4sI' });
  const s = decodeProtobufObject(envelope('v1', 'Secret', Buffer.concat([bytesField(1, meta), entry(4, 'k', 'v')])));
  t.same(s['data'], { k: Buffer.from('v').toString('base64') });
});

t.test('refuses kinds it cannot read with 415 and broken envelopes with 400, naming the problem', async (t) => {
  t.match(statusOf(() => decodeProtobufObject(envelope('apps/v1', 'Deployment', bytesField(1, meta)))), { code: 415, reason: 'UnsupportedMediaType', message: /only for v1 Secret and ConfigMap, not apps\/v1 Deployment; send application\/json/ });
  t.match(statusOf(() => decodeProtobufObject(Buffer.from('{"kind":"Secret"}'))), { code: 400, message: /k8s\\0 envelope prefix/ });
  t.match(statusOf(() => decodeProtobufObject(Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0x7f, 0x01])]))), { code: 400, message: /runs past the end/ });
  t.match(statusOf(() => decodeProtobufObject(envelope('v1', 'Secret', bytesField(1, bytesField(17, 'managed'))))), { code: 400, message: /metadata field 17 is not read/ });
  t.match(statusOf(() => decodeProtobufObject(envelope('v1', 'Secret', Buffer.from([0x0d, 0, 0, 0, 0])))), { code: 400, message: /wire type 5/ });
});

t.test('the server answers a protobuf create with the stored object, and an unknown media type with 415', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const target: RawTarget = { url: api.url, caPem: api.caPem, token: api.adminToken };
  const res = await fetchRaw(target, '/api/v1/namespaces/weft-system/secrets', envelope('v1', 'Secret', Buffer.concat([bytesField(1, meta), entry(2, 'release', 'x')])), 'application/vnd.kubernetes.protobuf');
  t.equal(res.status, 201);
  t.match(api.get('v1', 'Secret', 'weft-system', 'sh.helm.release.v1.weft.v1')?.metadata.labels, { owner: 'helm' });
  const yaml = await kubeRequest(target, 'POST', '/api/v1/namespaces/weft-system/configmaps', 'kind: ConfigMap', 'application/yaml');
  t.equal(yaml.status, 415);
  t.match(yaml.body, { reason: 'UnsupportedMediaType' });
});

t.test('server-side apply creates, conflicts on fields another manager wrote, and takes them with force', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  const target: RawTarget = { url: api.url, caPem: api.caPem, token: api.adminToken };
  const path = '/api/v1/namespaces/default/configmaps/roots';
  const created = await kubeRequest(target, 'POST', '/api/v1/namespaces/default/configmaps?fieldManager=weft', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'roots' }, data: { 'roots.pem': 'old', 'extra': 'kept' } });
  t.equal(created.status, 201);
  const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'roots', labels: { 'app.kubernetes.io/name': 'weft' } }, data: { 'roots.pem': 'new' } };
  const conflict = await kubeRequest(target, 'PATCH', `${path}?fieldManager=helm&force=false`, config, 'application/apply-patch+yaml');
  t.equal(conflict.status, 409);
  t.match(conflict.body, { reason: 'Conflict', message: 'Apply failed with 1 conflict: conflict with "weft": .data.roots.pem', details: { causes: [{ reason: 'FieldManagerConflict', field: '.data.roots.pem' }] } });
  const forced = await kubeRequest(target, 'PATCH', `${path}?fieldManager=helm&force=true`, config, 'application/apply-patch+yaml');
  t.equal(forced.status, 200);
  t.same((forced.body as { data: unknown }).data, { 'roots.pem': 'new', extra: 'kept' }, 'a field the applier never sent stays');
  t.match((forced.body as { metadata: { labels: unknown } }).metadata.labels, { 'app.kubernetes.io/name': 'weft' });
  const dropLabel = await kubeRequest(target, 'PATCH', `${path}?fieldManager=helm`, { ...config, metadata: { name: 'roots' } }, 'application/apply-patch+yaml');
  t.notOk((dropLabel.body as { metadata: { labels?: unknown } }).metadata.labels, 'a field the applier sent before and leaves out now is removed');
  const fresh = await kubeRequest(target, 'PATCH', '/api/v1/namespaces/default/configmaps/made?fieldManager=helm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made' }, data: { a: '1' } }, 'application/apply-patch+yaml');
  t.equal(fresh.status, 201, 'apply creates a missing object');
  const noManager = await kubeRequest(target, 'PATCH', path, config, 'application/apply-patch+yaml');
  t.equal(noManager.status, 422);
  t.match(noManager.body, { message: /fieldManager: Required value/ });
});

/** One request with a binary body (kubeRequest sends text). */
async function fetchRaw(target: RawTarget, path: string, body: Buffer, contentType: string): Promise<{ status: number }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, target.url), { method: 'POST', ca: target.caPem, headers: { Authorization: `Bearer ${target.token ?? ''}`, 'Content-Type': contentType, 'Content-Length': body.length, Accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
