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

/** Builds the process logger; tests pass an in-memory destination. */
export function createLogger(options: { level: string; name: string; destination?: DestinationStream }): Logger {
  const opts = {
    name: options.name,
    level: options.level,
    base: { pid: process.pid },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
