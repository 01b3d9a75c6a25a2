// waitForOutput and exitOf against real node children: resolve on the printed line, reject on an early exit or the bound.
import t from 'tap';
import { spawn } from 'node:child_process';
import { exitOf, waitForOutput } from '../../support/child-output.js';

/** A node child that runs `code`, and the text it has printed so far. */
function child(code: string): { child: ReturnType<typeof spawn>; read: () => string } {
  const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(() => {
    if (c.exitCode === null) c.kill('SIGKILL');
  });
  return { child: c, read: () => out };
}

t.test('resolves with the match once the line is printed, on stdout or stderr', async (t) => {
  const c = child("process.stdout.write('starting\\n'); setTimeout(() => process.stderr.write('listening on 127.0.0.1:4242\\n'), 100); setTimeout(() => {}, 10000);");
  const m = await waitForOutput(c.child, c.read, /listening on \S+:(\d+)/, 10_000);
  t.equal(m[1], '4242');
  t.equal(c.child.exitCode, null, 'the child is still running');
});

t.test('rejects at once when the child exits without printing it', async (t) => {
  const c = child("process.stdout.write('bye\\n'); process.exit(3);");
  const started = Date.now();
  await t.rejects(waitForOutput(c.child, c.read, /listening/, 10_000), /exited \(3\) before printing/);
  t.ok(Date.now() - started < 9_000, 'not after the bound');
});

t.test('rejects after the bound when the line never comes', async (t) => {
  const c = child('setTimeout(() => {}, 10000);');
  await t.rejects(waitForOutput(c.child, c.read, /never/, 200), /no \/never\/ within 200 ms/);
});

t.test('exitOf resolves when the child has exited, also when it already had', async (t) => {
  const c = child('process.exit(0);');
  await exitOf(c.child);
  t.equal(c.child.exitCode, 0);
  await exitOf(c.child);
  t.pass('resolved again after the exit');
});
