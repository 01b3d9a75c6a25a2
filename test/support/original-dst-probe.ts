// Run inside a network namespace as root (by test/e2e/original-dst-netns.test.ts): REDIRECTs a
// made-up destination to a local listener with iptables, connects to it, and prints as JSON what
// originalDestination() reads on the accepted sockets.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { originalDestination, wasRedirected } from '../../proxy/capture/original-dst.js';

interface ProbeResult {
  readonly case: string;
  readonly destination?: { address: string; port: number; family: number };
  readonly redirected?: boolean;
  readonly error?: string;
}

function listen(host: string): Promise<{ server: Server; port: number; accepted: Promise<Socket>[]; next: () => Promise<Socket> }> {
  return new Promise((resolve) => {
    const waiting: ((s: Socket) => void)[] = [];
    const queue: Socket[] = [];
    const server = createServer((socket) => {
      const w = waiting.shift();
      if (w) w(socket);
      else queue.push(socket);
    });
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const next = (): Promise<Socket> => {
        const s = queue.shift();
        return s ? Promise.resolve(s) : new Promise((r) => waiting.push(r));
      };
      resolve({ server, port, accepted: [], next });
    });
  });
}

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s));
    s.on('error', reject);
  });
}

function read(name: string, socket: Socket): ProbeResult {
  try {
    const destination = originalDestination(socket);
    return { case: name, destination, redirected: wasRedirected(socket, destination) };
  } catch (err) {
    return { case: name, error: `${(err as { code?: string }).code}: ${(err as Error).message}` };
  }
}

async function main(): Promise<void> {
  const [v4Target, v6Target] = process.argv.slice(2);
  const results: ProbeResult[] = [];
  const v4 = await listen('127.0.0.1');
  execFileSync('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', `${v4Target}/32`, '--dport', '5555', '-j', 'REDIRECT', '--to-ports', String(v4.port)]);
  const c1 = await dial(v4Target ?? '', 5555);
  const s1 = await v4.next();
  results.push(read('ipv4 redirected', s1));
  const c2 = await dial('127.0.0.1', v4.port);
  const s2 = await v4.next();
  results.push(read('ipv4 direct', s2));
  // Read once the descriptor is really closed ('close'), not after a guess at how long that takes.
  const closed = once(s2, 'close');
  s2.destroy();
  await closed;
  results.push(read('destroyed socket', s2));

  const v6 = await listen('::1');
  execFileSync('ip6tables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', `${v6Target}/128`, '--dport', '5556', '-j', 'REDIRECT', '--to-ports', String(v6.port)]);
  const c3 = await dial(v6Target ?? '', 5556);
  const s3 = await v6.next();
  results.push(read('ipv6 redirected', s3));

  // A dual-stack listener: the IPv4 connection arrives on an IPv6 socket (v4-mapped).
  const dual = await listen('::');
  execFileSync('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', `${v4Target}/32`, '--dport', '5557', '-j', 'REDIRECT', '--to-ports', String(dual.port)]);
  const c4 = await dial(v4Target ?? '', 5557);
  const s4 = await dual.next();
  results.push(read('ipv4 on a dual-stack listener', s4));

  process.stdout.write(`${JSON.stringify(results)}\n`);
  for (const s of [c1, c2, c3, c4, s1, s3, s4]) s.destroy();
  for (const l of [v4, v6, dual]) l.server.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
