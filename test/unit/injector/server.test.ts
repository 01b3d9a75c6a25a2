// The webhook over real HTTPS on loopback: AdmissionReviews in and out, malformed bodies, metrics,
// a serving certificate swapped on disk while the server runs, and trust anchors that arrive late.
import t from 'tap';
import { request, Agent } from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import fjp from 'fast-json-patch';
import { Registry } from 'prom-client';
import { createLogger } from '../../../lib/logger.js';
import { startInjectorServer } from '../../../injector/server.js';
import { readServingCert, watchServingCert } from '../../../injector/serving-cert.js';
import { DEFAULT_SETTINGS } from '../../../injector/settings.js';
import { readTrustAnchors, watchTrustAnchors } from '../../../injector/trust-anchors.js';
import { makeTestPki } from '../../support/pki.js';

const pki = await makeTestPki();
const first = await pki.leaf('spiffe://cluster.local/ns/weft-system/sa/weft-injector');
const dir = mkdtempSync(join(tmpdir(), 'weft-injector-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'tls.crt'), first.certChainPem);
writeFileSync(join(dir, 'tls.key'), first.keyPem);

const lines: string[] = [];
const logger = createLogger({
  level: 'debug',
  name: 'test',
  destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
});
const registry = new Registry();
const cert = await readServingCert(dir);
// The server starts without trust anchors, as the injector does before weft ca wrote them.
const trustFile = join(dir, 'trust', 'roots.pem');
const settings = { ...DEFAULT_SETTINGS, trustAnchorsFile: trustFile };
const server = await startInjectorServer({ host: '127.0.0.1', port: 0, cert, settings, logger, registry });
const stopWatch = watchServingCert(dir, cert, (c) => server.setCertificate(c), logger);
mkdirSync(join(dir, 'trust'));
const stopTrustWatch = watchTrustAnchors(trustFile, undefined, (pem) => server.setTrustAnchors(pem), logger, 200);
t.teardown(async () => {
  stopWatch();
  stopTrustWatch();
  await server.close();
});

const agent = new Agent({ keepAlive: true, ca: pki.authority.root.toString('pem'), checkServerIdentity: () => undefined });
t.teardown(() => agent.destroy());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
  peerSan: string | undefined;
}

function call(method: string, path: string, body?: string, contentType = 'application/json', ag: Agent = agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, method, path, agent: ag, headers: body === undefined ? {} : { 'content-type': contentType } },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = { text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, peerSan: peer.subjectaltname });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function review(over: Record<string, unknown> = {}, object?: unknown): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: object ?? {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { generateName: 'web-5d4f-', namespace: 'shop', labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx', readinessProbe: { tcpSocket: { port: 80 } } }] },
      },
      oldObject: null,
      dryRun: false,
      ...over,
    },
  };
}

type Resp = { uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: string[]; status?: { code: number; message: string } };
const resp = (a: Answer): Resp => a.json['response'] as Resp;

t.test('without trust anchors a pod to inject is refused with a coded 500, never admitted proxy-less', async (t) => {
  const a = await call('POST', '/mutate/ns-enabled', JSON.stringify(review()));
  t.equal(a.status, 200, 'a refused review, not an HTTP error that failurePolicy Ignore would wave through');
  const r = resp(a);
  t.equal(r.allowed, false);
  t.equal(r.patch, undefined);
  t.equal(r.status?.code, 500);
  t.match(r.status?.message, /^WEFT_ERR_INJECT_NO_TRUST_ANCHORS: weft cannot inject pod shop\/web-5d4f-<generated>: the injector has no trust anchors/);
  const opted = review({}, { metadata: { name: 'x', annotations: { 'weft.dev/inject': 'disabled' } }, spec: { containers: [{ name: 'a', image: 'a' }] } });
  t.equal(resp(await call('POST', '/mutate/ns-enabled', JSON.stringify(opted))).allowed, true, 'pods not to inject still pass');
});

async function readTrustAnchorsAfterWrite(): Promise<string> {
  writeFileSync(trustFile + '.tmp', 'not a pem');
  renameSync(trustFile + '.tmp', trustFile);
  await new Promise((res) => setTimeout(res, 500));
  writeFileSync(trustFile + '.tmp', pki.authority.root.toString('pem'));
  renameSync(trustFile + '.tmp', trustFile);
  return readTrustAnchors(trustFile);
}

t.test('trust anchors written to the mounted file are used without a restart; a broken update is ignored', async (t) => {
  const roots = (await readTrustAnchorsAfterWrite()).trim();
  let r: Resp | undefined;
  for (let i = 0; i < 50; i++) {
    r = resp(await call('POST', '/mutate/ns-enabled', JSON.stringify(review())));
    if (r.allowed) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  t.equal(r?.allowed, true);
  const ops = JSON.parse(Buffer.from(r?.patch ?? '', 'base64').toString()) as { path: string; value: { name?: string; env?: { name: string; value?: string }[] } }[];
  const proxy = ops.flatMap((o) => (Array.isArray(o.value) ? o.value : [o.value])).find((c) => c.name === 'weft-proxy');
  t.equal(proxy?.env?.find((e: { name: string; value?: string }) => e.name === 'WEFT_TRUST_ANCHORS')?.value?.trim(), roots, 'the PEM reaches the proxy env');
  t.ok(lines.some((l) => l.includes('trust anchors update ignored') && l.includes('holds no PEM CERTIFICATE')), 'the broken file was logged');
  // A broken update later keeps the last good bundle.
  writeFileSync(trustFile, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await new Promise((res) => setTimeout(res, 600));
  const again = resp(await call('POST', '/mutate/ns-enabled', JSON.stringify(review())));
  t.equal(again.allowed, true, 'still injecting with the last good trust anchors');
  t.ok(Buffer.from(again.patch ?? '', 'base64').toString().includes(JSON.stringify(roots).slice(1, 60)));
  writeFileSync(trustFile, pki.authority.root.toString('pem'));
});

t.test('a Pod CREATE in a labelled namespace gets a JSONPatch that applies', async (t) => {
  const body = review();
  const a = await call('POST', '/mutate/ns-enabled', JSON.stringify(body));
  t.equal(a.status, 200);
  t.equal(a.json['apiVersion'], 'admission.k8s.io/v1');
  t.equal(a.json['kind'], 'AdmissionReview');
  const r = resp(a);
  t.equal(r.uid, '705ab4f5-6393-11e8-b7cc-42010a800002', 'uid echoed');
  t.equal(r.allowed, true);
  t.equal(r.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString('utf8')) as fjp.Operation[];
  const pod = (body['request'] as Record<string, unknown>)['object'];
  const after = fjp.applyPatch(structuredClone(pod), ops, true).newDocument as { spec: { initContainers: { name: string }[] } };
  t.same(after.spec.initContainers.map((c) => c.name), ['weft-init', 'weft-proxy']);
  t.ok(lines.some((l) => l.includes('"outcome":"injected"')), 'the decision is logged');
});

t.test('in an unlabelled namespace only the pod annotation injects', async (t) => {
  const plain = resp(await call('POST', '/mutate', JSON.stringify(review())));
  t.same(plain, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true }, 'allowed, no patch');
  const asked = review({}, {
    metadata: { name: 'one', annotations: { 'weft.dev/inject': 'enabled' } },
    spec: { containers: [{ name: 'a', image: 'b' }] },
  });
  t.equal(resp(await call('POST', '/mutate', JSON.stringify(asked))).patchType, 'JSONPatch');
});

t.test('anything but a Pod CREATE is allowed unchanged', async (t) => {
  const cases: Record<string, unknown>[] = [
    { operation: 'UPDATE' },
    { operation: 'DELETE', object: null },
    { kind: { group: '', version: 'v1', kind: 'Service' }, object: { kind: 'Service' } },
    { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: { kind: 'Deployment' } },
    { subResource: 'ephemeralcontainers' },
  ];
  for (const over of cases) {
    const uid = `u-${typeof over['operation'] === 'string' ? over['operation'] : 'x'}`;
    const a = await call('POST', '/mutate/ns-enabled', JSON.stringify(review({ ...over, uid })));
    t.equal(a.status, 200);
    const r = resp(a);
    t.equal(r.allowed, true);
    t.equal(r.patch, undefined, `${JSON.stringify(over).slice(0, 60)}: no patch`);
    t.equal(r.uid, uid);
  }
});

t.test('a pod with a bad annotation is denied with the reason, and warnings travel back', async (t) => {
  const obj = {
    metadata: { name: 'bad', annotations: { 'config.weft.dev/skip-outbound-cidrs': '10.0.0.0/99', 'config.weft.dev/log-level': 'loud' } },
    spec: { containers: [{ name: 'a', image: 'b' }] },
  };
  const r = resp(await call('POST', '/mutate/ns-enabled', JSON.stringify(review({}, obj))));
  t.equal(r.allowed, false);
  t.equal(r.status?.code, 400);
  t.match(r.status?.message, /config\.weft\.dev\/skip-outbound-cidrs="10\.0\.0\.0\/99"/);
  t.match(r.warnings, [/log-level="loud"/]);
});

t.test('malformed reviews get a 400 naming the field', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"apiVersion": ', /the body is not JSON/],
    ['empty', '', /the body is empty/],
    ['an array', '[]', /the body must be a JSON object, got an array/],
    ['wrong apiVersion', JSON.stringify({ ...review(), apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion is "admission\.k8s\.io\/v1beta1", expected "admission\.k8s\.io\/v1"/],
    ['wrong kind', JSON.stringify({ ...review(), kind: 'Pod' }), /kind is "Pod", expected "AdmissionReview"/],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request is missing or not an object/],
    ['no uid', JSON.stringify(review({ uid: '' })), /request\.uid is missing/],
    ['bad kind', JSON.stringify(review({ kind: 'Pod' })), /request\.kind must be an object/],
    ['bad operation', JSON.stringify(review({ operation: 'PATCH' })), /request\.operation is "PATCH", expected CREATE, UPDATE, DELETE or CONNECT/],
    ['no object', JSON.stringify(review({ object: null })), /request\.object must be the Pod being created/],
    ['no containers', JSON.stringify(review({}, { spec: { containers: {} } })), /request\.object\.spec\.containers must be an array/],
    ['bad volumes', JSON.stringify(review({}, { spec: { containers: [], volumes: 'x' } })), /request\.object\.spec\.volumes must be an array/],
  ];
  for (const [what, body, re] of cases) {
    const a = await call('POST', '/mutate/ns-enabled', body);
    t.equal(a.status, 400, `${what}: 400`);
    t.equal(a.headers['weft-error'], 'WEFT_ERR_ADMISSION_REVIEW', `${what}: coded`);
    t.match(String(a.json['message']), re, `${what}: precise message`);
  }
  const wrongType = await call('POST', '/mutate', 'x', 'text/plain');
  t.equal(wrongType.status, 415, 'a body that is not application/json is refused');
});

t.test('metrics count reviews by result; /ready and /live answer', async (t) => {
  const m = await call('GET', '/metrics');
  const text = String(m.json['text']);
  const count = (result: string): number => Number(new RegExp(`weft_injector_reviews_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? -1);
  t.ok(count('injected') >= 2, `injected ${count('injected')}`);
  t.ok(count('skipped') >= 1);
  t.ok(count('ignored') >= 5);
  t.ok(count('rejected') >= 1);
  t.ok(count('malformed') >= 12, `malformed ${count('malformed')}`);
  t.match(text, /weft_injector_review_duration_seconds_bucket/);
  t.equal((await call('GET', '/ready')).status, 200);
  t.equal((await call('GET', '/live')).status, 200);
});

t.test('a new certificate written to the Secret directory is served without a restart', async (t) => {
  const before = await call('GET', '/ready', undefined, 'application/json', new Agent({ ca: pki.authority.root.toString('pem'), checkServerIdentity: () => undefined }));
  t.match(before.peerSan, /weft-injector/);
  const next = await pki.leaf('spiffe://cluster.local/ns/weft-system/sa/rotated');
  // As the kubelet does: write elsewhere, then flip in place.
  writeFileSync(join(dir, 'tls.key.new'), next.keyPem);
  writeFileSync(join(dir, 'tls.crt.new'), next.certChainPem);
  renameSync(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  let san: string | undefined;
  for (let i = 0; i < 200 && !san?.includes('rotated'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    san = (await call('GET', '/live', undefined, 'application/json', new Agent({ ca: pki.authority.root.toString('pem'), checkServerIdentity: () => undefined }))).peerSan;
  }
  t.match(san, /rotated/, 'new connections see the new certificate');
  t.ok(new X509Certificate(next.certChainPem).subjectAltName?.includes('rotated'));
  // A broken update is ignored: the rotated certificate keeps being served.
  writeFileSync(join(dir, 'tls.key'), 'garbage');
  await new Promise((r) => setTimeout(r, 400));
  const still = await call('GET', '/live', undefined, 'application/json', new Agent({ ca: pki.authority.root.toString('pem'), checkServerIdentity: () => undefined }));
  t.match(still.peerSan, /rotated/);
  t.ok(lines.some((l) => l.includes('serving certificate update ignored')));
});

t.test('readServingCert names the missing file', async (t) => {
  await t.rejects(readServingCert(join(dir, 'nope')), { code: 'WEFT_ERR_SERVING_CERT', message: /cannot read .*nope\/tls\.crt/ });
});
