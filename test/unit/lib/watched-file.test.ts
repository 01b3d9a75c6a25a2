import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import type { FSWatcher } from 'node:fs';
import { mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WatchedFile, type ReloadStage, type WatchedFileOptions } from '../../../lib/watched-file.js';
import { FakeTimers } from '../../support/fake-timers.js';

// A directory watcher the test fires by hand.
class FakeWatcher extends EventEmitter {
  closed = false;
  close(): void {
    this.closed = true;
  }
}

interface Rig {
  clock: FakeTimers;
  file: WatchedFile<string>;
  /** What read() returns next; an Error is thrown instead. */
  content: { value: string | Error | undefined };
  reads: () => number;
  applied: string[];
  errors: { stage: ReloadStage; message: string }[];
  emit: (name: string | null) => void;
  watchers: FakeWatcher[];
}

function rig(t: Test, opts: Partial<WatchedFileOptions<string>> = {}): Rig {
  const clock = new FakeTimers();
  const content: Rig['content'] = { value: 'v1' };
  let reads = 0;
  const applied: string[] = [];
  const errors: Rig['errors'] = [];
  const watchers: FakeWatcher[] = [];
  const listeners: ((event: string, name: string | null) => void)[] = [];
  const file = new WatchedFile<string>({
    paths: ['/etc/weft/routes.yaml'],
    read: async () => {
      reads += 1;
      if (content.value instanceof Error) throw content.value;
      return content.value;
    },
    same: (a, b) => a === b,
    apply: (next) => {
      if (next.startsWith('bad')) throw new Error(`refused ${next}`);
      applied.push(next);
    },
    onError: (err, stage) => errors.push({ stage, message: (err as Error).message }),
    timers: clock,
    debounceMs: 100,
    watch: (_dir, listener) => {
      const w = new FakeWatcher();
      watchers.push(w);
      listeners.push(listener);
      return w as unknown as FSWatcher;
    },
    ...opts,
  });
  t.teardown(() => file.close());
  return { clock, file, content, reads: () => reads, applied, errors, emit: (name) => listeners.forEach((l) => l('rename', name)), watchers };
}

t.test('load applies the first version; a bad first version throws and nothing is in force', async (t) => {
  const r = rig(t);
  t.equal(await r.file.load(), 'v1');
  t.same(r.applied, ['v1']);
  t.equal(r.file.current, 'v1');
  const bad = rig(t);
  bad.content.value = 'bad0';
  await t.rejects(bad.file.load(), /refused bad0/);
  t.equal(bad.file.current, undefined);
  bad.content.value = new Error('ENOENT');
  await t.rejects(bad.file.load(), /ENOENT/);
});

t.test('a burst of events is read once, after the debounce, and the new version applied', async (t) => {
  const r = rig(t);
  await r.file.load();
  r.file.start();
  r.content.value = 'v2';
  r.emit('routes.yaml');
  await r.clock.advance(60);
  r.emit('routes.yaml');
  r.emit(null);
  await r.clock.advance(99);
  t.equal(r.reads(), 1, 'nothing read within 100 ms of the last event');
  await r.clock.advance(1);
  t.equal(r.reads(), 2, 'one read for the burst');
  t.same(r.applied, ['v1', 'v2']);
  t.equal(r.file.current, 'v2');
});

t.test('events for other names are ignored unless any name in the directory counts', async (t) => {
  const r = rig(t);
  await r.file.load();
  r.file.start();
  r.content.value = 'v2';
  r.emit('other.yaml');
  await r.clock.advance(1000);
  t.equal(r.reads(), 1, 'no read for another file');
  const any = rig(t, { anyNameInDirectory: true });
  await any.file.load();
  any.file.start();
  any.content.value = 'v2';
  any.emit('..data');
  await any.clock.advance(100);
  t.same(any.applied, ['v1', 'v2'], 'a ConfigMap symlink flip reloads');
});

t.test('an unreadable or refused version keeps the one in force, and a fixed one is applied', async (t) => {
  const r = rig(t);
  await r.file.load();
  r.file.start();
  r.content.value = new Error('EACCES');
  r.emit('routes.yaml');
  await r.clock.advance(100);
  t.same(r.errors, [{ stage: 'read', message: 'EACCES' }]);
  t.equal(r.file.current, 'v1', 'unreadable: kept');
  r.content.value = 'bad1';
  r.emit('routes.yaml');
  await r.clock.advance(100);
  t.same(r.errors[1], { stage: 'apply', message: 'refused bad1' });
  t.equal(r.file.current, 'v1', 'refused: kept');
  t.same(r.applied, ['v1']);
  r.content.value = 'v3';
  r.emit('routes.yaml');
  await r.clock.advance(100);
  t.same(r.applied, ['v1', 'v3']);
});

t.test('an unchanged or absent version is not applied again', async (t) => {
  const r = rig(t);
  await r.file.load();
  r.file.start();
  r.emit('routes.yaml');
  await r.clock.advance(100);
  t.equal(r.reads(), 2, 'read');
  r.content.value = undefined;
  r.emit('routes.yaml');
  await r.clock.advance(100);
  t.equal(r.reads(), 3, 'read');
  t.same(r.applied, ['v1'], 'same text and "not there yet" change nothing');
  t.same(r.errors, []);
});

t.test('polls without events, every pollMs and not sooner', async (t) => {
  const r = rig(t, { pollMs: 1000, watchDirectories: false });
  r.file.start('v1');
  t.equal(r.watchers.length, 0, 'no directory watched');
  r.content.value = 'v2';
  await r.clock.advance(999);
  t.equal(r.reads(), 0, 'no read before the poll interval');
  await r.clock.advance(1);
  t.same(r.applied, ['v2']);
  r.content.value = 'v3';
  await r.clock.advance(1000);
  t.same(r.applied, ['v2', 'v3'], 'and again');
});

t.test('close stops watching, polling and a pending debounce', async (t) => {
  const r = rig(t, { pollMs: 1000 });
  await r.file.load();
  r.file.start();
  r.content.value = 'v2';
  r.emit('routes.yaml');
  r.file.close();
  t.ok(r.watchers.every((w) => w.closed), 'watchers closed');
  await r.clock.advance(5000);
  t.equal(r.reads(), 1, 'nothing read after close');
  t.equal(r.clock.pendingCount, 0);
});

t.test('a file replaced by rename on disk is picked up through fs.watch', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-watched-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'eps.json');
  await writeFile(path, 'one');
  const clock = new FakeTimers();
  const applied: string[] = [];
  let appliedNext: (v: string) => void = () => undefined;
  const file = new WatchedFile<string>({
    paths: [path],
    read: () => readFile(path, 'utf8'),
    same: (a, b) => a === b,
    apply: (next) => {
      applied.push(next);
      appliedNext(next);
    },
    onError: (err) => t.fail(String(err)),
    timers: clock,
    debounceMs: 20,
  });
  t.teardown(() => file.close());
  await file.load();
  file.start();
  const debounced = clock.nextScheduled((s) => s.delayMs === 20);
  await writeFile(`${path}.tmp`, 'two');
  await rename(`${path}.tmp`, path);
  await debounced;
  const appliedTwo = new Promise<string>((resolve) => (appliedNext = resolve));
  await clock.advance(20);
  t.equal(await appliedTwo, 'two');
  t.same(applied, ['one', 'two']);
});
