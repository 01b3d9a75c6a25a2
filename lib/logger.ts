// Creates the pino logger a process hands down to its parts; nothing else makes loggers.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Header and field paths whose values never reach a log line. */
export const REDACTED_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'token',
  'apiKey',
  'key',
];

/** The pino levels every weft process accepts for WEFT_LOG_LEVEL. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * Builds the process logger; tests pass an in-memory destination. `pod` (WEFT_POD_NAME) goes on
 * every line, as Linkerd's proxy does, so that lines collected from many replicas say whose they are.
 */
export function createLogger(options: { level: string; name: string; pod?: string | undefined; destination?: DestinationStream }): Logger {
  const opts = {
    name: options.name,
    level: options.level,
    base: options.pod === undefined ? { pid: process.pid } : { pid: process.pid, pod: options.pod },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
