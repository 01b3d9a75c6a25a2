// A real redis-server on a loopback port for the Redis tests and the bench: no persistence, its own
// directory, started and stopped by the caller.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server on 127.0.0.1:port; resolves once it accepts connections, rejects when it cannot start or does not listen within 10 s. */
export async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const missing = new Promise<string>((resolve) => child.once('error', (e) => resolve(`redis-server could not be started (${e.message})`)));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await Promise.race([
      missing,
      new Promise<boolean>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.end();
          resolve(true);
        });
        c.once('error', () => resolve(false));
      }),
    ]);
    if (typeof ok === 'string') throw new Error(ok);
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not listen on ${port} within 10 s`);
}

/** Kills the server (SIGKILL: the tests stop Redis as an outage would) and waits for its exit. */
export async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await done;
}
