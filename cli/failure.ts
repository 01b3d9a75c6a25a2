// How a failed `weft` command is reported: one line `weft <command>: CODE: message` and an exit
// status. Expected failures (bad flags, busy addresses, unreadable files) never show a stack trace;
// only a bug in weft itself (WEFT_ERR_INTERNAL) keeps its stack, since that is what a report needs.
import { isWeftError, type ErrorCode } from '../lib/errors.js';

/** A failure as the user sees it. */
export interface Failure {
  readonly code: ErrorCode;
  readonly message: string;
  /** The process exit status: 2 for bad input, 1 otherwise. */
  readonly exit: number;
  /** Printed after the line for WEFT_ERR_INTERNAL only. */
  readonly stack?: string;
}

// Codes that mean "you asked wrong": exit 2, as for a usage error.
const INPUT_CODES: ReadonlySet<string> = new Set(['WEFT_ERR_CONFIG', 'WEFT_ERR_USAGE', 'WEFT_ERR_MESH_FILE', 'WEFT_ERR_INIT_REFUSED']);

/** The fields Node puts on a system error (ErrnoException) and on a parseArgs error. */
interface NodeErrorFields {
  readonly code?: unknown;
  readonly syscall?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly path?: unknown;
}

const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'is already in use',
  EADDRNOTAVAIL: 'is not an address of this machine',
  EACCES: 'may not be bound by this user',
};

/** Classifies what a command threw (or rejected with) into the line to print. */
export function describeFailure(err: unknown): Failure {
  if (isWeftError(err)) return { code: err.code, message: err.message, exit: INPUT_CODES.has(err.code) ? 2 : 1 };
  const e = (err ?? {}) as NodeErrorFields;
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof e.code === 'string' ? e.code : '';
  if (code.startsWith('ERR_PARSE_ARGS_')) return { code: 'WEFT_ERR_USAGE', message, exit: 2 };
  if ((e.syscall === 'listen' || e.syscall === 'bind') && LISTEN_REASONS[code] !== undefined) {
    const where = typeof e.address === 'string' ? (typeof e.port === 'number' ? `${e.address}:${e.port}` : e.address) : 'the address';
    return { code: 'WEFT_ERR_LISTEN', message: `${where} ${LISTEN_REASONS[code]} (${code})`, exit: 1 };
  }
  if (typeof e.path === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM'].includes(code)) {
    return { code: 'WEFT_ERR_FILE', message: `cannot read ${e.path}: ${code === 'ENOENT' ? 'no such file or directory' : code}`, exit: 1 };
  }
  return { code: 'WEFT_ERR_INTERNAL', message, exit: 1, ...(err instanceof Error && err.stack !== undefined ? { stack: err.stack } : {}) };
}

/** The line (and for a bug, the stack) to write to stderr. */
export function formatFailure(command: string, failure: Failure): string {
  const line = `${command}: ${failure.code}: ${failure.message}\n`;
  return failure.stack === undefined ? line : `${line}${failure.stack}\n(this is a bug in weft; please report it with the lines above)\n`;
}
