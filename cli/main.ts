#!/usr/bin/env node
// The `weft` executable: the one place that reads process.env, installs signal handlers and exits.
import { readFileSync } from 'node:fs';
import { COMMANDS } from './commands.js';
import { WeftError } from '../lib/errors.js';
import { describeFailure, formatFailure } from './failure.js';
import { createLogger } from '../lib/logger.js';

/** The package version, read from package.json beside the build. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// A child of `weft up` whose parent died has this long to drain before it exits regardless.
const PARENT_GONE_EXIT_MS = 3000;

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
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: weft <command> [options]\n\ncommands:\n${rows.join('\n')}\n\n  --version    print the version\n\nweft help <command> (or weft <command> --help) shows a command's usage, examples and environment.\n`;
}

// `--help` / `-h` anywhere before a `--` asks for help; no command runs then.
function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** Prints one command's help, or a coded error naming the nearest command. */
async function printHelp(name: string): Promise<number> {
  const { COMMAND_HELP, renderCommandHelp } = await import('./help.js');
  const entry = COMMANDS[name];
  const help = COMMAND_HELP[name];
  if (!entry || !help) return unknownCommand(name);
  process.stdout.write(renderCommandHelp(name, entry.summary, help));
  return 0;
}

async function unknownCommand(name: string): Promise<number> {
  const { didYouMean } = await import('./help.js');
  const near = didYouMean(name, Object.keys(COMMANDS));
  const hint = near === undefined ? '' : `; did you mean "${near}"?`;
  process.stderr.write(`weft: WEFT_ERR_USAGE: unknown command ${JSON.stringify(name)}${hint} (weft --help lists the commands)\n`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`weft ${version()}\n`);
    return 0;
  }
  if (name === 'help' && rest[0] !== undefined) return printHelp(rest[0]);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) return unknownCommand(name);
  if (wantsHelp(rest)) return printHelp(name);
  if (entry.takesArguments === false && rest.length > 0) {
    throw new WeftError('WEFT_ERR_USAGE', `unexpected argument ${JSON.stringify(rest[0])}: weft ${name} reads its settings from the environment (weft help ${name} lists them)`);
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
  // Started by `weft up` with an IPC channel: when the channel closes, weft up is gone (even by
  // SIGKILL), so stop as on SIGTERM, and leave within a bound even if draining hangs.
  if (process.channel !== undefined) {
    process.once('disconnect', () => {
      controller.abort('parent gone');
      setTimeout(() => process.exit(1), PARENT_GONE_EXIT_MS).unref();
    });
  }
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

// A reader that went away (`weft up | head`) is no failure of the command: later output is dropped.
let stdoutGone = false;
const FLUSH_WAIT_MS = 5000;
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  stdoutGone = true;
  process.stdout.write = () => true;
});

/**
 * Leaves once everything written to stdout and stderr has been handed to the OS (a pipe may take
 * writes asynchronously: exiting at once cut `weft inject`'s YAML short), and even if a stray
 * handle (a watcher, a timer) is still open.
 */
function exitAfterFlush(code: number): void {
  process.exitCode = code;
  if (stdoutGone) {
    process.exit(code);
    return;
  }
  let pending = 2;
  const done = (): void => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
  // A reader that neither reads nor closes must not keep weft from leaving.
  setTimeout(() => process.exit(code), FLUSH_WAIT_MS).unref();
}

const commandName = process.argv[2] !== undefined && COMMANDS[process.argv[2]] !== undefined ? `weft ${process.argv[2]}` : 'weft';
main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (err: unknown) => {
    const failure = describeFailure(err);
    process.stderr.write(formatFailure(commandName, failure));
    exitAfterFlush(failure.exit);
  },
);
