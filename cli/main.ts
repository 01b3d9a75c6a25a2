#!/usr/bin/env node
// The `weft` executable: the one place that reads process.env, installs signal handlers and exits.
import { readFileSync } from 'node:fs';
import { COMMANDS } from './commands.js';
import { isWeftError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';

/** The package version, read from package.json beside the build. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// Long-running servers: a stray rejection must cost at most the request it belonged to.
const SERVERS: ReadonlySet<string> = new Set(['proxy', 'gateway']);

/**
 * The proxy's and the gateway's policy: an unhandled rejection is logged at error with
 * WEFT_ERR_INTERNAL and the process keeps serving the other requests of the pod. An uncaught
 * exception still ends the process (Node's default), since the state it leaves is unknown.
 */
function keepServingOnRejection(name: string): void {
  const log = createLogger({ level: 'error', name: `weft-${name}` });
  process.on('unhandledRejection', (reason: unknown) => {
    log.error({ code: 'WEFT_ERR_INTERNAL', err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) }, 'unhandled promise rejection; still serving');
  });
}

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: weft <command> [options]\n\ncommands:\n${rows.join('\n')}\n\n  --version  print the version\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`weft ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`weft: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  if (SERVERS.has(name)) keepServingOnRejection(name);
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    // A second signal means "now": skip the drain.
    if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    controller.abort(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const command = await entry.load();
  return command.run({
    argv: rest,
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    shutdown: controller.signal,
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain, then leave even if a stray handle (a watcher, a timer) is still open.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    if (isWeftError(err)) process.stderr.write(`weft: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`weft: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
