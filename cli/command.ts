// What every `weft` subcommand receives from main.ts: arguments, environment, streams and the
// shutdown signal. Subcommands never touch process.* themselves.
import type { Readable, Writable } from 'node:stream';

/** The outside world, as handed to a subcommand. */
export interface CommandContext {
  /** Arguments after the subcommand name. */
  readonly argv: readonly string[];
  /** The process environment (a plain object in tests). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Aborted on the first SIGTERM or SIGINT: stop accepting, drain, then resolve. */
  readonly shutdown: AbortSignal;
}

/** A subcommand: resolves with the process exit status. */
export interface Command {
  readonly summary: string;
  run(ctx: CommandContext): Promise<number>;
}
