// Waiting on what a child process prints: resolves on the output event that makes the text match,
// rejects as soon as the process exits first or the bound passes. Tests wait on the line they need
// instead of polling with sleeps.
import type { ChildProcess } from 'node:child_process';

/**
 * Resolves with the match once `read()` (the text the caller has collected from the child so far)
 * matches `pattern`; checked now and after every chunk on stdout or stderr.
 */
export function waitForOutput(child: ChildProcess, read: () => string, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', exited);
    };
    // Listeners added after the caller's own collectors run after them, so read() already holds the chunk.
    const check = (): void => {
      const m = pattern.exec(read());
      if (!m) return;
      done();
      resolve(m);
    };
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      done();
      reject(new Error(`exited (${code ?? signal}) before printing ${pattern}:\n${read()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${read()}`));
    }, timeoutMs);
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', exited);
    check();
  });
}

/** Resolves once the child has exited (at once when it already has). */
export function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
