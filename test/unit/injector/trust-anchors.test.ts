import t from 'tap';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { readTrustAnchors, watchTrustAnchors } from '../../../injector/trust-anchors.js';
import { createLogger } from '../../../lib/logger.js';
import { makeTestPki } from '../../support/pki.js';
import { FakeTimers } from '../../support/fake-timers.js';

const pki = await makeTestPki();
const pki2 = await makeTestPki();
const root1 = pki.authority.root.toString('pem');
const root2 = pki2.authority.root.toString('pem');
const BROKEN = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';

function capture(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[]; next: (msg: string) => Promise<Record<string, unknown>> } {
  const lines: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      const line = JSON.parse(chunk.toString()) as Record<string, unknown>;
      lines.push(line);
      for (const w of waiters.filter((w) => w.msg === line['msg'])) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', name: 't', destination: sink }), lines, next: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })) };
}

t.test('a broken update is logged once and ignored; the next good one is handed over', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-anchors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'roots.pem');
  await writeFile(file, root1);
  const clock = new FakeTimers();
  const log = capture();
  const handed: string[] = [];
  const stop = watchTrustAnchors(file, await readTrustAnchors(file), (pem) => handed.push(pem), log.logger, 10_000, clock);
  t.teardown(stop);
  await writeFile(file, BROKEN);
  const ignored = log.next('trust anchors update ignored');
  await clock.advance(10_000);
  t.equal((await ignored)['code'], 'WEFT_ERR_INJECT_NO_TRUST_ANCHORS');
  t.same(handed, [], 'nothing handed over');
  // The same problem at the next poll is not logged again.
  await clock.advance(10_000);
  const reloaded = log.next('trust anchors reloaded');
  const swap = clock.nextScheduled((s) => s.delayMs === 100);
  await writeFile(`${file}.tmp`, root2);
  await rename(`${file}.tmp`, file);
  await swap;
  await clock.advance(100);
  await reloaded;
  t.same(handed.map((p) => p.trim()), [root2.trim()], 'the good update handed over once');
  t.equal(log.lines.filter((l) => l['msg'] === 'trust anchors update ignored').length, 1, 'the repeated problem was logged once');
});

t.test('a bundle that appears later in a directory that did not exist is found by polling', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-anchors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'later', 'roots.pem');
  const clock = new FakeTimers();
  const log = capture();
  const handed: string[] = [];
  const stop = watchTrustAnchors(file, undefined, (pem) => handed.push(pem), log.logger, 10_000, clock);
  t.teardown(stop);
  t.ok(log.lines.some((l) => String(l['msg']).startsWith('watching the trust anchors failed')), 'the missing directory is reported');
  await mkdir(join(dir, 'later'));
  await writeFile(file, root1);
  await clock.advance(9_999);
  t.same(handed, [], 'not before the poll');
  const reloaded = log.next('trust anchors reloaded');
  await clock.advance(1);
  await reloaded;
  t.same(handed.map((p) => p.trim()), [root1.trim()]);
});
