// Who holds a TCP listening address, read from /proc: lets `weft up` name the process in the way of
// an address, and count a sidecar ready only when the listener answering is that sidecar's own.
import { readFile, readdir, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { WeftError } from '../../lib/errors.js';
import type { HostPort } from '../../lib/config.js';

/** A process holding an address. */
export interface Holder {
  readonly pid: number;
  /** Its command line, spaces between the arguments. */
  readonly command: string;
}

// 127.0.10.1 -> "010A007F": /proc/net/tcp writes each IPv4 address as a little-endian 32-bit word.
function procAddress(host: string): string | undefined {
  const octets = host.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  return octets.reverse().map((o) => o.toString(16).padStart(2, '0')).join('').toUpperCase();
}

/**
 * The socket inodes of the listeners (state 0A) in `procNetTcp` (the text of /proc/net/tcp) that take
 * connections for host:port: the exact address or the wildcard 0.0.0.0.
 */
export function listenerInodes(procNetTcp: string, host: string, port: number): string[] {
  const exact = procAddress(host);
  const portHex = port.toString(16).padStart(4, '0').toUpperCase();
  const wanted = new Set([`${exact ?? ''}:${portHex}`, `00000000:${portHex}`]);
  const out: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10 || f[3] !== '0A' || !wanted.has(f[1] ?? '')) continue;
    if (f[9] !== undefined && f[9] !== '0') out.push(f[9]);
  }
  return out;
}

async function inodesFor(address: HostPort): Promise<string[] | undefined> {
  try {
    return listenerInodes(await readFile('/proc/net/tcp', 'utf8'), address.host, address.port);
  } catch {
    return undefined; // no /proc (not Linux): nothing can be said
  }
}

async function holdsInode(pid: number, inodes: ReadonlySet<string>): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or not ours to read
  }
  for (const fd of fds) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(m[1] ?? '')) return true;
  }
  return false;
}

/** True when process `pid` holds the listener of `address`; undefined when /proc cannot tell. */
export async function ownsListener(pid: number, address: HostPort): Promise<boolean | undefined> {
  const inodes = await inodesFor(address);
  if (inodes === undefined) return undefined;
  return inodes.length > 0 && holdsInode(pid, new Set(inodes));
}

/** The process listening on `address`, when /proc shows it (a process of another user may not be readable). */
export async function findHolder(address: HostPort): Promise<Holder | undefined> {
  const inodes = await inodesFor(address);
  if (inodes === undefined || inodes.length === 0) return undefined;
  const set = new Set(inodes);
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e)).map(Number);
  for (const pid of pids) {
    if (!(await holdsInode(pid, set))) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    return { pid, command: cmdline.split('\0').filter(Boolean).join(' ') };
  }
  return undefined;
}

function tryListen(address: HostPort): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * Throws WEFT_ERR_LISTEN for the first address of `addresses` that cannot be listened on, naming
 * what holds it (`what` says whose address it is). Checked before anything starts, so that a second
 * `weft up` or a busy port stops at once instead of leaving sidecars that die in their log files.
 */
export async function checkAddressesFree(addresses: readonly { readonly address: HostPort; readonly what: string }[]): Promise<void> {
  for (const { address, what } of addresses) {
    const err = await tryListen(address);
    if (err === undefined) continue;
    const where = `${address.host}:${address.port}`;
    if (err.code === 'EADDRINUSE') {
      const holder = await findHolder(address);
      const by = holder === undefined ? 'another process' : `pid ${holder.pid} (${holder.command})`;
      const hint = holder !== undefined && / (proxy|gateway)$/.test(holder.command) ? '; is another weft up running with this mesh file?' : '';
      throw new WeftError('WEFT_ERR_LISTEN', `${where} (${what}) is already in use by ${by}${hint}`);
    }
    throw new WeftError('WEFT_ERR_LISTEN', `${where} (${what}) cannot be listened on: ${err.code ?? err.message}`);
  }
}
