// The access-log line of one finished exchange, serialised by hand: the fields that repeat across
// requests (direction and protocol; service, peer and endpoint) are pre-serialised fragments, only
// the per-request fields are escaped per line. Same keys, values and order as the pino object the
// recorder logged before (docs/observability.md).
import { jsonString, RawLogLine, RAW_LEVELS } from '../lib/raw-log-line.js';

/** What a line says about one exchange (proxy/exchange.ts's Exchange has these fields). */
export interface AccessFacts {
  readonly direction: 'inbound' | 'outbound';
  readonly protocol: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly service: string;
  readonly peer: string;
  readonly endpoint: string;
  readonly reason: string;
  readonly status: number;
  readonly errorCode: string;
}

/** The line's keys, in the order they are written. */
export const ACCESS_LINE_KEYS = ['direction', 'protocol', 'method', 'authority', 'path', 'service', 'peer', 'endpoint', 'reason', 'status', 'error', 'durationMs'] as const;

// Past this many distinct (service, peer, endpoint) fragments the cache starts again: the inbound
// service label comes from a header the peer sets, so its values are not bounded by the mesh.
const MAX_FRAGMENTS = 1024;

const MSG_OK = jsonString('request');
const MSG_FAILED = jsonString('request failed');

/** Writes access-log lines through a `RawLogLine`. */
export class AccessLine {
  readonly #out: RawLogLine;
  readonly #heads = new Map<string, string>();
  // service -> peer -> endpoint -> `,"service":…,"peer":…,"endpoint":…` (absent fields left out).
  #fragments = new Map<string, Map<string, Map<string, string>>>();
  #fragmentCount = 0;

  constructor(out: RawLogLine) {
    this.#out = out;
  }

  /** Writes the exchange's line: warn "request failed" when it carries an error code, else info "request". */
  write(exchange: AccessFacts, durationMs: number): void {
    const failed = exchange.errorCode !== '';
    const level = failed ? RAW_LEVELS.warn : RAW_LEVELS.info;
    if (!this.#out.enabled(level)) return;
    let line = this.#head(exchange.direction, exchange.protocol);
    line += ',"method":' + jsonString(exchange.method) + ',"authority":' + jsonString(exchange.authority) + ',"path":' + jsonString(exchange.path);
    line += this.#fragment(exchange.service, exchange.peer, exchange.endpoint);
    if (exchange.reason !== '') line += ',"reason":' + jsonString(exchange.reason);
    line += ',"status":' + numberJson(exchange.status);
    if (failed) line += ',"error":' + jsonString(exchange.errorCode);
    line += ',"durationMs":' + numberJson(Math.round(durationMs * 1000) / 1000);
    this.#out.write(level, line, failed ? MSG_FAILED : MSG_OK);
  }

  #head(direction: string, protocol: string): string {
    const key = direction + protocol;
    let head = this.#heads.get(key);
    if (head === undefined) {
      head = ',"direction":' + jsonString(direction) + ',"protocol":' + jsonString(protocol);
      this.#heads.set(key, head);
    }
    return head;
  }

  #fragment(service: string, peer: string, endpoint: string): string {
    let byPeer = this.#fragments.get(service);
    let byEndpoint = byPeer?.get(peer);
    const found = byEndpoint?.get(endpoint);
    if (found !== undefined) return found;
    if (this.#fragmentCount >= MAX_FRAGMENTS) {
      this.#fragments = new Map();
      this.#fragmentCount = 0;
      byPeer = undefined;
      byEndpoint = undefined;
    }
    let fragment = '';
    if (service !== '') fragment += ',"service":' + jsonString(service);
    if (peer !== '') fragment += ',"peer":' + jsonString(peer);
    if (endpoint !== '') fragment += ',"endpoint":' + jsonString(endpoint);
    if (!byPeer) {
      byPeer = new Map();
      this.#fragments.set(service, byPeer);
    }
    if (!byEndpoint) {
      byEndpoint = new Map();
      byPeer.set(peer, byEndpoint);
    }
    byEndpoint.set(endpoint, fragment);
    this.#fragmentCount += 1;
    return fragment;
  }
}

// As pino writes a number: non-finite ones as null.
function numberJson(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
