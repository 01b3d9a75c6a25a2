// Waits on what a weft process says about itself, for e2e tests: its /ready answer (status and
// reasons) until a condition holds, and its JSON log lines with a given message.
import { get } from './local-mesh.js';

/** A /ready answer. */
export interface ReadyAnswer {
  readonly status: number;
  readonly reasons: string[];
}

/** A process with an admin port and a log (KubeProcess, ProxyProcess). */
export interface ProbedProcess {
  readonly admin: string;
  readonly log: () => Promise<string>;
}

/** The process's /ready answer, or undefined while it does not answer. */
export async function readyAnswer(admin: string): Promise<ReadyAnswer | undefined> {
  const res = await get(`${admin}/ready`).catch(() => undefined);
  if (!res) return undefined;
  return { status: res.status, reasons: (JSON.parse(res.body) as { reasons: string[] }).reasons };
}

/** Polls the process's /ready until `done` says so; returns the answer and when it came. */
export async function readyUntil(proc: ProbedProcess, what: string, done: (a: ReadyAnswer) => boolean, timeoutMs: number): Promise<ReadyAnswer & { at: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const a = await readyAnswer(proc.admin);
    if (a && done(a)) return { status: a.status, reasons: a.reasons, at: Date.now() };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; its log:\n${(await proc.log()).split('\n').slice(-15).join('\n')}`);
}

/** The process's log lines whose msg matches, once at least one is written (the log is flushed asynchronously). */
export async function logLines(proc: ProbedProcess, msg: RegExp): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const lines = (await proc.log())
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => msg.test(String(l['msg'])));
    if (lines.length > 0 || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}
