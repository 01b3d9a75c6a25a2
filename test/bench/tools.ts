// Shared pieces of the benchmarks: running wrk and reading its figures, and per-process
// resource readings (peak RSS, CPU seconds) from /proc.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { readFile, readdir } from 'node:fs/promises';

/** What one wrk run measured. */
export interface WrkResult {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

/** Runs wrk for `seconds` with `connections` and 1-2 threads; parses --latency output. */
export async function runWrk(url: string, opts: { connections: number; seconds: number; headers?: Record<string, string>; threads?: number }): Promise<WrkResult> {
  const args = ['-t', String(opts.threads ?? Math.min(2, opts.connections)), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('wrk', args, { timeout: (opts.seconds + 30) * 1000 }, (err, stdout, stderr) => (err ? reject(new Error(`wrk failed: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  return parseWrk(out);
}

/** Parses wrk's --latency report (pure). */
export function parseWrk(out: string): WrkResult {
  const toMs = (value: string, unit: string): number => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? 1);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1] ?? '0', m[2] ?? 'ms') : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? NaN);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requestsPerSec: rps,
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    errors: errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
    non2xx,
  };
}

/** Peak RSS (VmHWM) in MB and CPU seconds (user+system) of a process, from /proc. */
export async function processUsage(pid: number): Promise<{ peakRssMb: number; rssMb: number; anonMb: number; cpuSeconds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  // RssAnon is the private part of VmRSS; the rest is mostly the program's file pages, which every
  // process mapping the same file (every sidecar of one image on a node) shares.
  return { peakRssMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, cpuSeconds: ticks / 100 };
}

/** Child PIDs of a process (nginx workers under their master). */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** Spawns a process and resolves once `ready()` says so (or rejects after 15 s). */
export async function startProcess(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, ready: () => Promise<boolean>): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}: ${stderr}`);
    if (await ready().catch(() => false)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  // TERM, not KILL: an nginx master killed outright leaves its workers holding the ports.
  await stopProcess(child, 'SIGTERM');
  throw new Error(`${cmd} not ready in 15 s: ${stderr}`);
}

/** Stops a process and waits for it. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The status of a GET to `url`, 0 when it fails. */
export function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}
