// The gateway's access-log line, serialised by hand through lib/raw-log-line.ts: the same keys,
// values and order as the pino object the handler logged before (docs/gateway.md), without
// building and walking that object on every request.
import type { ErrorCode } from '../lib/errors.js';
import { jsonString, RawLogLine, RAW_LEVELS } from '../lib/raw-log-line.js';

/** What a line says about one exchange (gateway/exchange.ts's Exchange has these fields). */
export interface GatewayAccessFacts {
  readonly authority: string | undefined;
  readonly path: string;
  readonly route: string;
  readonly backend: string;
  readonly client: string;
  readonly consumer: string | undefined;
  readonly code: ErrorCode | undefined;
  readonly policy: string | undefined;
}

/** The line's keys, in the order they are written. */
export const GATEWAY_ACCESS_KEYS = ['method', 'host', 'path', 'status', 'route', 'backend', 'client', 'consumer', 'code', 'policy', 'durationMs'] as const;

/** The line's message. */
export const ACCESS_MSG = 'access';
const MSG = jsonString(ACCESS_MSG);

/** Writes the gateway's access-log lines through a `RawLogLine`. */
export class GatewayAccessLine {
  readonly #out: RawLogLine;

  constructor(out: RawLogLine) {
    this.#out = out;
  }

  /** Writes one line at info; absent fields (undefined, an empty consumer) are left out as pino leaves them. */
  write(method: string | undefined, x: GatewayAccessFacts, status: number, durationMs: number): void {
    if (!this.#out.enabled(RAW_LEVELS.info)) return;
    let line = method === undefined ? '' : ',"method":' + jsonString(method);
    if (x.authority !== undefined) line += ',"host":' + jsonString(x.authority);
    line += ',"path":' + jsonString(x.path) + ',"status":' + numberJson(status) + ',"route":' + jsonString(x.route) + ',"backend":' + jsonString(x.backend) + ',"client":' + jsonString(x.client);
    if (x.consumer) line += ',"consumer":' + jsonString(x.consumer);
    if (x.code !== undefined) line += ',"code":' + jsonString(x.code);
    if (x.policy !== undefined) line += ',"policy":' + jsonString(x.policy);
    line += ',"durationMs":' + numberJson(durationMs);
    this.#out.write(RAW_LEVELS.info, line, MSG);
  }
}

// As pino writes a number: non-finite ones as null.
function numberJson(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
