// Network namespaces for the capture tests: create "pods" (a namespace with a veth pair to the
// host), run commands in them, and delete everything again, even when a test fails.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** What a finished command gave back. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion with a time bound; never throws for a non-zero status. */
export function run(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      [...args],
      { timeout: options.timeoutMs ?? 15_000, env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && typeof err.code !== 'number' ? String(err.message) : '') });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Runs a program and throws with its output when it fails. */
export async function runOk(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(file, args, options);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * Why network namespaces cannot be used here, or undefined when they can: the test then prints
 * the reason and fails (it never passes silently).
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `network namespaces and iptables need root (uid ${process.getuid?.()})`;
  for (const tool of ['ip', 'iptables-restore', 'iptables-save']) {
    const r = await run('sh', ['-c', `command -v ${tool}`]);
    if (r.code !== 0) return `${tool} is not installed (scripts/ensure-tools.sh installs it)`;
  }
  const name = `weft-probe-${process.pid}`;
  const add = await run('ip', ['netns', 'add', name]);
  if (add.code !== 0) return `ip netns add is refused here: ${add.stderr.trim()}`;
  const nat = await run('ip', ['netns', 'exec', name, 'iptables-save', '-t', 'nat']);
  await run('ip', ['netns', 'del', name]);
  if (nat.code !== 0) return `iptables nat table unusable in a namespace: ${nat.stderr.trim()}`;
  return undefined;
}

/** A network namespace standing in for a pod, attached to the lab's bridge. */
export interface Pod {
  readonly netns: string;
  /** The pod's address (inside the namespace). */
  readonly ip: string;
  /** Runs a program inside the namespace. */
  exec(file: string, args: readonly string[], options?: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** Starts a long-running program inside the namespace. */
  spawn(file: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
}

/**
 * A small "node": one namespace holding a bridge (10.233.<subnet>.1/24), and pod namespaces whose
 * veth pairs hang off it. Nothing is added to the machine's own network namespace, so the tests
 * change no host setting and send nothing beyond these namespaces. Each test file picks a subnet
 * no other test uses; delete() removes every namespace (and with them every link) it made.
 */
export class NetnsLab {
  readonly #prefix: string;
  readonly #subnet: number;
  readonly #namespaces: string[] = [];
  #node: string | undefined;

  constructor(tag: string, subnet: number) {
    this.#prefix = `weft-${tag}-${process.pid}`;
    this.#subnet = subnet;
  }

  /** The address of pod number `host` (2-254). */
  address(host: number): string {
    return `10.233.${this.#subnet}.${host}`;
  }

  async #nodeNamespace(): Promise<string> {
    if (this.#node) return this.#node;
    const node = `${this.#prefix}-node`;
    await runOk('ip', ['netns', 'add', node]);
    this.#namespaces.push(node);
    this.#node = node;
    await runOk('ip', ['-n', node, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk('ip', ['-n', node, 'addr', 'add', `${this.address(1)}/24`, 'dev', 'br0']);
    await runOk('ip', ['-n', node, 'link', 'set', 'br0', 'up']);
    return node;
  }

  /** Creates a pod namespace at 10.233.<subnet>.<host> with eth0 on the bridge and a default route. */
  async pod(name: string, host: number): Promise<Pod> {
    const node = await this.#nodeNamespace();
    const netns = `${this.#prefix}-${name}`;
    await runOk('ip', ['netns', 'add', netns]);
    this.#namespaces.push(netns);
    const nodeIf = `veth${host}`;
    await runOk('ip', ['-n', node, 'link', 'add', nodeIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await runOk('ip', ['-n', node, 'link', 'set', nodeIf, 'master', 'br0']);
    await runOk('ip', ['-n', node, 'link', 'set', nodeIf, 'up']);
    const ip = this.address(host);
    await runOk('ip', ['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await runOk('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    // A default route, so that connections to addresses off the bridge (a service's virtual IP)
    // are routable and reach the OUTPUT nat rules, as in a pod.
    await runOk('ip', ['-n', netns, 'route', 'add', 'default', 'via', this.address(1)]);
    return {
      netns,
      ip,
      exec: (file, args, options) => run('ip', ['netns', 'exec', netns, file, ...args], options),
      spawn: (file, args, options) => spawn('ip', ['netns', 'exec', netns, file, ...args], { stdio: 'pipe', ...options }),
    };
  }

  /** Creates a bare namespace with only loopback up (for tests of `weft init` alone). */
  async bare(name: string): Promise<string> {
    const netns = `${this.#prefix}-${name}`;
    await runOk('ip', ['netns', 'add', netns]);
    this.#namespaces.push(netns);
    await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    return netns;
  }

  /** Deletes every namespace this lab made (their links go with them); never throws. */
  async delete(): Promise<void> {
    for (const ns of this.#namespaces.splice(0).reverse()) await run('ip', ['netns', 'del', ns]);
    this.#node = undefined;
  }
}
