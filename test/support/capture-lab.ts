// The common start of the transparent-capture e2e tests: say why capture cannot be tested here
// (no network namespaces, no SO_ORIGINAL_DST addon) and fail, or give a lab whose child processes
// are killed and awaited before its namespaces go (a namespace can only be deleted once nothing
// runs in it), and, for local mode, CA material the proxies' UID 7007 can read.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { NetnsLab, netnsUnavailable, type Pod, type RunResult } from './netns.js';
import { exitOf } from './child-output.js';
import { loadOriginalDstAddon } from '../../proxy/capture/original-dst.js';
import { loadOrCreateCaDir } from '../../lib/pki/store.js';

/** A lab, the children to kill at teardown and a scratch folder (mode 755) removed with it. */
export interface CaptureLab {
  readonly lab: NetnsLab;
  readonly children: ChildProcess[];
  readonly dir: string;
}

/**
 * Opens a lab for `what`, or fails the test with the reason capture cannot be tested here and
 * returns undefined. `teardown` runs after the children have exited, before the namespaces go.
 */
export async function openCaptureLab(t: Test, what: string, tag: string, subnet: number, teardown?: () => Promise<void> | void): Promise<CaptureLab | undefined> {
  const why = await netnsUnavailable();
  if (why) {
    t.fail(`network namespaces are not usable here, so ${what} cannot be tested end to end: ${why}`);
    return undefined;
  }
  const addon = loadOriginalDstAddon();
  if (addon instanceof Error) {
    t.fail(`the SO_ORIGINAL_DST addon is not available (npm run build:native): ${addon.message}`);
    return undefined;
  }
  const lab = new NetnsLab(tag, subnet);
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), `weft-${tag}-`));
  chmodSync(dir, 0o755);
  t.teardown(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(exitOf));
    await teardown?.();
    await lab.delete();
    rmSync(dir, { recursive: true, force: true });
  });
  return { lab, children, dir };
}

/** Local-mode CA material in `dir`/ca, readable by the proxies' UID 7007 (test files only). */
export async function readableLocalCa(dir: string): Promise<string> {
  const caDir = join(dir, 'ca');
  await loadOrCreateCaDir(caDir, 'cluster.local', new Date());
  chmodSync(caDir, 0o755);
  for (const f of readdirSync(caDir)) chmodSync(join(caDir, f), 0o644);
  return caDir;
}

/** A `weft proxy` running in a pod as UID 7007 (the UID `weft init` exempts), with its output. */
export interface Sidecar {
  readonly child: ChildProcess;
  readonly logs: string[];
}

const WEFT_MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/** Starts `weft proxy` in `pod` as UID 7007 with `env` (PATH added); killed at the lab's teardown. */
export function spawnSidecar(opened: CaptureLab, pod: Pod, env: Record<string, string>): Sidecar {
  const child = pod.spawn('setpriv', ['--reuid=7007', '--regid=7007', '--clear-groups', '--', process.execPath, WEFT_MAIN, 'proxy'], { env: { PATH: process.env.PATH, ...env } });
  opened.children.push(child);
  const logs: string[] = [];
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return { child, logs };
}

/** curl inside a pod, bounded. */
export function curlIn(pod: Pod, args: string[]): Promise<RunResult> {
  return pod.exec('curl', ['-sS', '--max-time', '5', ...args], { timeoutMs: 8_000 });
}

/** Waits for the pod's sidecar to answer /ready 200; throws with its output if it exits or takes 40 s. */
export async function waitSidecarReady(pod: Pod, sidecar: Sidecar, name = pod.netns): Promise<void> {
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    if ((await curlIn(pod, ['-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:7020/ready'])).stdout === '200') return;
    if (sidecar.child.exitCode !== null) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`sidecar ${name} not ready:\n${sidecar.logs.join('')}`);
}

/** The value of the first line of the pod sidecar's /metrics matching `pattern` (0 when none does). */
export async function metricIn(pod: Pod, pattern: RegExp): Promise<number> {
  const line = (await curlIn(pod, ['http://127.0.0.1:7020/metrics'])).stdout.split('\n').find((l) => pattern.test(l));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}
