// A live local mesh for tests of the observing commands: `weft up` on a mesh file written for the
// test (its own loopback /24), requests sent through the client's sidecar, and `weft` subcommands
// run against the same mesh file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { WEFT_MAIN, randomBase } from './local-mesh.js';
import { waitForOutput } from './child-output.js';

/** A running `weft up`. */
export interface UpMesh {
  readonly meshFile: string;
  /** The loopback /24 of the pods ("127.x.y"). */
  readonly base: string;
  /** host:port of the client sidecar's outbound listener. */
  readonly outbound: string;
  /** Sends one request through the client's sidecar; resolves with the status and weft-error. */
  send(service: string, path: string, headers?: Record<string, string>): Promise<{ status: number; error: string }>;
  stop(): Promise<void>;
}

/** Starts `weft up` on `servicesYaml` (the mesh file's services and authorization sections). */
export async function startUpMesh(tag: string, sectionsYaml: string): Promise<UpMesh> {
  const dir = await mkdtemp(join(tmpdir(), `weft-${tag}-`));
  const base = randomBase();
  const outbound = `${base}.251:7001`;
  const meshFile = join(dir, 'mesh.yaml');
  await writeFile(meshFile, `namespace: demo\naddressBase: "${base}"\ncaDir: ${dir}/ca\nstateDir: ${dir}/state\nclient:\n  outbound: "${outbound}"\n${sectionsYaml}`);
  const child: ChildProcess = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', meshFile]);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForOutput(child, () => output, /Ctrl-C stops everything/, 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const [host = '', port = ''] = outbound.split(':');
  return {
    meshFile,
    base,
    outbound,
    send: (service, path, headers = {}) =>
      new Promise((resolve, reject) => {
        const req = http.request({ host, port: Number(port), method: 'GET', path: `http://${service}${path}`, headers: { host: service, ...headers }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, error: String(res.headers['weft-error'] ?? '') }));
        });
        req.on('error', reject);
        req.end();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A finished `weft` subcommand run. */
export interface WeftRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A started `weft` subcommand: wait for a line on its output, then for its end. */
export interface WeftChild {
  readonly child: ChildProcess;
  /** Resolves once stdout+stderr match `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  readonly done: Promise<WeftRun>;
}

/** Starts `weft <args>`. */
export function runWeft(args: readonly string[]): WeftChild {
  const child = spawn(process.execPath, [WEFT_MAIN, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<WeftRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, waitFor: (pattern, timeoutMs = 20_000) => waitForOutput(child, () => stdout + stderr, pattern, timeoutMs) };
}
