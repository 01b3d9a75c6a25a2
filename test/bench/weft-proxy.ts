// The one way a bench section starts a `weft proxy` in local mode: its three listeners on one
// loopback address, the section's CA directory and endpoints file, and the NODE_OPTIONS the
// injector writes for a default pod, so that every section measures what a pod runs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { CA_FILES } from '../../lib/pki/store.js';
import { WEFT_MAIN } from '../support/local-mesh.js';
import { injectedProxyNodeOptions } from './injected-env.js';
import { startProcess, status } from './tools.js';

/** Where and how one bench proxy runs. */
export interface BenchProxy {
  /** The section's directory: `ca/` holds the authority, the endpoints file sits beside it. */
  readonly dir: string;
  /** Pod name and service account. */
  readonly name: string;
  /** The loopback address of its listeners (7001 outbound, 7006 inbound, 7020 admin). */
  readonly address: string;
  /** The app its inbound side reaches; the proxy's own address unless given. */
  readonly appHost?: string;
  /** Another build's dist/cli/main.js (WEFT_BENCH_BEFORE). */
  readonly main?: string;
  /** Relative to `dir`; endpoints.json unless given. */
  readonly endpointsFile?: string;
  /** Settings of this section, over the defaults (log level warn, access log as by default). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts the proxy and resolves once its admin port says ready. */
export async function startBenchProxy(p: BenchProxy): Promise<ChildProcess> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    WEFT_MODE: 'local',
    WEFT_POD_NAME: p.name,
    WEFT_POD_NAMESPACE: 'bench',
    WEFT_SERVICE_ACCOUNT: p.name,
    WEFT_APP_HOST: p.appHost ?? p.address,
    WEFT_INBOUND_ADDR: `${p.address}:7006`,
    WEFT_OUTBOUND_ADDR: `${p.address}:7001`,
    WEFT_ADMIN_ADDR: `${p.address}:7020`,
    WEFT_CA_DIR: join(p.dir, 'ca'),
    WEFT_ENDPOINTS_FILE: join(p.dir, p.endpointsFile ?? 'endpoints.json'),
    WEFT_LOG_LEVEL: 'warn',
    NODE_OPTIONS: injectedProxyNodeOptions(await readFile(join(p.dir, 'ca', CA_FILES.rootCert), 'utf8')),
  };
  if (process.env.MALLOC_ARENA_MAX) env['MALLOC_ARENA_MAX'] = process.env.MALLOC_ARENA_MAX;
  for (const [name, value] of Object.entries(p.env ?? {})) env[name] = value;
  const nodeArgs = (process.env.WEFT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return startProcess(process.execPath, [...nodeArgs, p.main ?? WEFT_MAIN, 'proxy'], env, async () => (await status(`http://${p.address}:7020/ready`)) === 200);
}
