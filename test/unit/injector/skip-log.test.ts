// Every skipped pod is logged at info with its reason, rate-limited per reason; a pod that asked for
// the mesh and was skipped gets the reason as an annotation; other pods are left exactly as they came.
import t from 'tap';
import { request, Agent } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fjp from 'fast-json-patch';
import { Registry } from 'prom-client';
import { createLogger } from '../../../lib/logger.js';
import { startInjectorServer } from '../../../injector/server.js';
import { readServingCert } from '../../../injector/serving-cert.js';
import { DEFAULT_SETTINGS } from '../../../injector/settings.js';
import { SKIP_LOG_LIMIT, SkipLogLimiter } from '../../../injector/skip-log.js';
import { answerReview } from '../../../injector/admission.js';
import { FakeTimers } from '../../support/fake-timers.js';
import { makeTestPki } from '../../support/pki.js';

function review(uid: string, namespace: string, pod: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'u' },
      object: { apiVersion: 'v1', kind: 'Pod', ...pod },
      dryRun: false,
    },
  };
}
const hostNetPod = { metadata: { name: 'agent', namespace: 'shop' }, spec: { hostNetwork: true, containers: [{ name: 'a', image: 'x' }] } };
const plainPod = { metadata: { name: 'web', namespace: 'other', annotations: { team: 'a' } }, spec: { containers: [{ name: 'web', image: 'x' }] } };
const settings = { ...DEFAULT_SETTINGS, trustAnchors: undefined };

t.test('the limiter lets N lines per reason per window through and counts the rest', async (t) => {
  const l = new SkipLogLimiter({ linesPerWindow: 2, windowMs: 1000 });
  t.same([l.admit('host-network', 0), l.admit('host-network', 10), l.admit('host-network', 20), l.admit('host-network', 30)].map((d) => d.log), [true, true, false, false]);
  t.same(l.admit('disabled', 40), { log: true, suppressed: 0 }, 'each reason has its own budget');
  t.same(l.admit('host-network', 1000), { log: true, suppressed: 2 }, 'the next window logs again and says how many were left out');
  t.same(l.admit('host-network', 1001), { log: true, suppressed: 0 });
});

t.test('a pod in scope that is skipped gets weft.dev/inject-skipped; others get no patch at all', async (t) => {
  const skipped = answerReview(review('u1', 'shop', hostNetPod), settings, 'enabled');
  t.equal(skipped.outcome, 'skipped');
  t.equal(skipped.skipReason, 'host-network');
  const patch = JSON.parse(Buffer.from(skipped.body.response.patch ?? '', 'base64').toString()) as fjp.Operation[];
  const patched = fjp.applyPatch(structuredClone(hostNetPod), patch).newDocument as unknown as { metadata: { annotations: Record<string, string> } };
  t.match(patched.metadata.annotations['weft.dev/inject-skipped'], /^host-network: pod shop\/agent uses hostNetwork/);
  const outside = answerReview(review('u2', 'other', plainPod), settings, 'not-enabled');
  t.equal(outside.skipReason, 'namespace-not-enabled');
  t.equal(outside.body.response.patch, undefined, 'a pod of a namespace without weft is not touched');
  const own = answerReview(review('u3', 'weft-system', { metadata: { name: 'ca', labels: { 'app.kubernetes.io/part-of': 'weft' } }, spec: { containers: [{ name: 'c', image: 'x' }] } }), settings, 'enabled');
  t.equal(own.skipReason, 'weft-component');
  t.equal(own.body.response.patch, undefined, "weft's own pods are not annotated");
  const keep = answerReview(review('u4', 'other', { ...plainPod, metadata: { ...plainPod.metadata, annotations: { team: 'a', 'weft.dev/inject': 'enabled' } }, spec: { hostNetwork: true, containers: [{ name: 'w', image: 'x' }] } }), settings, 'not-enabled');
  const ops = JSON.parse(Buffer.from(keep.body.response.patch ?? '', 'base64').toString()) as { path: string }[];
  t.same(ops.map((o) => o.path), ['/metadata/annotations/weft.dev~1inject-skipped'], 'existing annotations stay; only ours is added');
});

t.test('the server logs every skip at info with its reason, at most the limit per window', async (t) => {
  const pki = await makeTestPki();
  const leaf = await pki.leaf('spiffe://cluster.local/ns/weft-system/sa/weft-injector');
  const dir = mkdtempSync(join(tmpdir(), 'weft-skiplog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tls.crt'), leaf.certChainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', name: 'test', destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }) });
  const timers = new FakeTimers();
  const server = await startInjectorServer({ host: '127.0.0.1', port: 0, cert: await readServingCert(dir), settings, logger, registry: new Registry(), timers });
  t.teardown(() => server.close());
  const agent = new Agent({ keepAlive: true, ca: pki.authority.root.toString('pem'), checkServerIdentity: () => undefined });
  t.teardown(() => agent.destroy());
  const post = (path: string, body: unknown): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, method: 'POST', path, agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const n = SKIP_LOG_LIMIT.linesPerWindow + 5;
  for (let i = 0; i < n; i++) await post('/mutate/ns-enabled', review(`h${i}`, 'shop', hostNetPod));
  await post('/mutate', review('o1', 'other', plainPod));
  const skipLines = lines.filter((l) => l['outcome'] === 'skipped');
  const host = skipLines.filter((l) => l['reason'] === 'host-network');
  t.equal(host.length, SKIP_LOG_LIMIT.linesPerWindow, `${n} host-network skips give ${SKIP_LOG_LIMIT.linesPerWindow} lines in one window`);
  t.ok(skipLines.every((l) => l['level'] === 30), 'at info');
  t.match(host[0], { annotated: true, msg: /pod shop\/agent uses hostNetwork/ });
  t.match(skipLines.find((l) => l['reason'] === 'namespace-not-enabled'), { annotated: false, msg: /not labelled weft\.dev\/inject=enabled/ }, 'another reason has its own budget');
  await timers.advance(SKIP_LOG_LIMIT.windowMs);
  await post('/mutate/ns-enabled', review('later', 'shop', hostNetPod));
  t.match(lines.at(-1), { reason: 'host-network', uid: 'later', suppressed: 5 }, 'the next window says how many were left out');
});
