// `weft up`'s health of its own children: a sidecar is ready only when its /ready answers 200 from a
// listener that process itself holds (never a leftover on the same address), and a part that is
// not ready is reported with why and where its log is.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import type { HostPort } from '../../lib/config.js';
import { ownsListener } from './port-holder.js';

/** One started part: its process, its admin address and its log file. */
export interface ChildPart {
  readonly name: string;
  readonly process: ChildProcess;
  readonly admin: HostPort;
  readonly logFile: string;
  /** Set when the process has exited, with its status (or signal). */
  exit?: string;
}

/** Why one part is not ready. */
export interface NotReady {
  readonly part: ChildPart;
  readonly reason: string;
}

/** A GET that never throws: status 0 when nothing answered. */
export function httpGet(url: string, host?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const req = http.get(url, { headers: { ...headers, ...(host ? { host } : {}) }, timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done({ status: 0, body: '' }));
  });
}

/** Is this part ready now: running, /ready 200, and the answering listener its own. */
async function probe(part: ChildPart): Promise<boolean> {
  if (part.exit !== undefined || part.process.pid === undefined) return false;
  const res = await httpGet(`http://${part.admin.host}:${part.admin.port}/ready`);
  if (res.status !== 200) return false;
  // undefined: no /proc to ask (not Linux); the answer then stands on /ready alone.
  return (await ownsListener(part.process.pid, part.admin)) !== false;
}

/**
 * Polls until every part is ready or has exited, or the time is up; returns the parts not ready.
 * `sleep` is the caller's, so the wait between polls is not this module's clock.
 */
export async function waitReady(parts: readonly ChildPart[], timeoutMs: number, abort: AbortSignal, sleep: (ms: number) => Promise<void>, now: () => number): Promise<ChildPart[]> {
  const deadline = now() + timeoutMs;
  const ready = new Set<ChildPart>();
  while (!abort.aborted) {
    await Promise.all(parts.filter((p) => !ready.has(p)).map(async (p) => (await probe(p)) && ready.add(p)));
    if (parts.every((p) => ready.has(p) || p.exit !== undefined) || now() >= deadline) break;
    await sleep(150);
  }
  return parts.filter((p) => !ready.has(p));
}

/** The last line of a log that carries a weft error code, else its last line. */
export function lastProblem(log: string): string | undefined {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const coded = [...lines].reverse().find((l) => /WEFT_ERR_[A-Z_]+/.test(l));
  const line = coded ?? lines[lines.length - 1];
  if (line === undefined) return undefined;
  try {
    // A pino line: its message and code are what a person needs.
    const j = JSON.parse(line) as { msg?: unknown; code?: unknown; err?: unknown };
    const parts = [j.code, j.msg, typeof j.err === 'string' ? j.err.split('\n')[0] : undefined].filter((x) => typeof x === 'string' && x !== '');
    return parts.join(': ');
  } catch {
    return line;
  }
}

/** Each not-ready part with its reason: its exit and the last problem in its log, or what /ready says. */
export async function explain(parts: readonly ChildPart[]): Promise<NotReady[]> {
  return Promise.all(
    parts.map(async (part) => {
      const log = await readFile(part.logFile, 'utf8').catch(() => '');
      const problem = lastProblem(log);
      if (part.exit !== undefined) return { part, reason: `exited (${part.exit})${problem ? `: ${problem}` : ''}` };
      const res = await httpGet(`http://${part.admin.host}:${part.admin.port}/ready`);
      if (res.status === 0) return { part, reason: `its admin port ${part.admin.host}:${part.admin.port} does not answer${problem ? `; last log line: ${problem}` : ''}` };
      if (res.status === 200) return { part, reason: `${part.admin.host}:${part.admin.port} answers /ready, but from another process than this sidecar (pid ${part.process.pid ?? '?'})` };
      return { part, reason: `/ready answers ${res.status}: ${res.body.trim().replace(/\s+/g, ' ').slice(0, 300)}` };
    }),
  );
}
