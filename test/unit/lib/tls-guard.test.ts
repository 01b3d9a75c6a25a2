// The TLS handshake guard on a real loopback TLS server with a fake clock: stalled handshakes
// destroyed at the bound, the cap closing new connections at once, failures summarized per window.
import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { FailureWindow, guardHandshakes, GUARD_REASONS } from '../../../lib/tls-guard.js';
import { createLogger } from '../../../lib/logger.js';
import { FakeTimers, settle } from '../../support/fake-timers.js';
import { makeWebCa } from '../../support/web-pki.js';

const ca = await makeWebCa('guard test CA');
const pair = await ca.server(['localhost']);

function sink(): { lines: Record<string, unknown>[]; write(line: string): void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
}

async function setup(t: Test, bounds: { handshakeTimeoutMs: number; maxPendingHandshakes: number }) {
  const timers = new FakeTimers();
  const out = sink();
  const failures: string[] = [];
  const server = tls.createServer({ key: pair.keyPem, cert: pair.certPem }, (s) => s.end('hello'));
  const guard = guardHandshakes(server, {
    ...bounds,
    listener: 'test',
    timers,
    log: createLogger({ level: 'info', name: 'weft-test', destination: out }),
    onFailure: (reason) => failures.push(reason),
    summaryIntervalMs: 30_000,
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  t.teardown(() => {
    for (const c of clients) c.destroy();
    guard.close();
    server.close();
  });
  /** A TCP connection that never sends a ClientHello; resolves once the server has it. */
  const halfOpen = async (): Promise<{ socket: net.Socket; closed: Promise<unknown> }> => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    clients.push(socket);
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    return { socket, closed };
  };
  const handshake = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: ca.caPem }, () => undefined);
      let body = '';
      c.on('data', (d: Buffer) => (body += d.toString()));
      c.on('end', () => resolve(body));
      c.on('error', reject);
    });
  /** Waits (on real events, not time) until the guard sees `n` handshakes pending. */
  const pendingReaches = async (n: number): Promise<void> => {
    while (guard.pending !== n) await new Promise((r) => setImmediate(r));
  };
  return { timers, out, failures, guard, halfOpen, handshake, pendingReaches };
}

t.test('a connection that sends no ClientHello is destroyed when the bound passes, not before', async (t) => {
  const s = await setup(t, { handshakeTimeoutMs: 10_000, maxPendingHandshakes: 100 });
  const a = await s.halfOpen();
  await s.pendingReaches(1);
  let closed = false;
  a.closed.then(() => (closed = true), () => undefined);
  await s.timers.advance(9_999);
  await settle();
  t.notOk(closed, 'still open just before the bound');
  await s.timers.advance(1);
  await a.closed;
  t.equal(s.guard.pending, 0);
  t.same(s.failures, [GUARD_REASONS.timeout]);
});

t.test('a partial ClientHello is destroyed at the bound too; a full handshake is never touched', async (t) => {
  const s = await setup(t, { handshakeTimeoutMs: 5_000, maxPendingHandshakes: 100 });
  const a = await s.halfOpen();
  a.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
  t.equal(await s.handshake(), 'hello', 'a real client completes');
  await s.pendingReaches(1);
  await s.timers.advance(5_000);
  await a.closed;
  t.same(s.failures, [GUARD_REASONS.timeout], 'only the partial one failed');
});

t.test('beyond the cap a new connection is closed at once, and handshakes work again below it', async (t) => {
  const s = await setup(t, { handshakeTimeoutMs: 10_000, maxPendingHandshakes: 3 });
  const held = [await s.halfOpen(), await s.halfOpen(), await s.halfOpen()];
  await s.pendingReaches(3);
  const extra = await s.halfOpen();
  await extra.closed;
  t.equal(s.guard.pending, 3);
  t.same(s.failures, [GUARD_REASONS.overCapacity]);
  t.not(await s.handshake().catch(() => 'refused'), 'hello', 'a real client is refused while the cap is reached');
  held[0]?.socket.destroy();
  await held[0]?.closed;
  await s.pendingReaches(2);
  t.equal(await s.handshake(), 'hello', 'below the cap again, handshakes complete');
});

t.test('a client that is not speaking TLS is counted by reason; failures log one summary per window', async (t) => {
  const s = await setup(t, { handshakeTimeoutMs: 10_000, maxPendingHandshakes: 100 });
  for (let i = 0; i < 5; i++) {
    const c = await s.halfOpen();
    c.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await c.closed;
  }
  const stalled = await s.halfOpen();
  await s.pendingReaches(1);
  await s.timers.advance(10_000);
  await stalled.closed;
  t.equal(s.failures.length, 6);
  t.equal(s.failures.filter((r) => r === GUARD_REASONS.timeout).length, 1);
  const warns = (): Record<string, unknown>[] => s.out.lines.filter((l) => l['msg'] === 'TLS handshakes failed (summary)');
  t.equal(warns().length, 0, 'nothing logged per failure');
  await s.timers.advance(20_000);
  t.equal(warns().length, 1, 'one summary when the window closes');
  const line = warns()[0] ?? {};
  t.equal(line['total'], 6);
  t.equal(line['listener'], 'test');
  t.equal((line['failures'] as Record<string, number>)[GUARD_REASONS.timeout], 1);
  await s.timers.advance(60_000);
  t.equal(warns().length, 1, 'a quiet window logs nothing');
});

t.test('the failure window counts by reason and reopens after it closes', (t) => {
  const w = new FailureWindow(1000);
  t.equal(w.add('a', 0), 1000, 'the first failure opens a window');
  t.equal(w.add('a', 10), undefined);
  t.equal(w.add('b', 20), undefined);
  t.same(w.close(1000), { counts: { a: 2, b: 1 }, total: 3, windowMs: 1000 });
  t.equal(w.close(1500), undefined);
  t.equal(w.add('c', 2000), 1000, 'the next failure opens a new one');
  t.end();
});
