// The proxy's window on finished exchanges: live taps (each a filter and a sink) and a ring of the
// most recent failed requests. Told of every exchange by the recorder; with no tap attached a
// successful exchange costs two comparisons and allocates nothing.
import type { Exchange, ExchangeObserver } from '../exchange.js';
import { isFailure } from './failure.js';
import { redactHeaders, redactPath } from './redact.js';
import { tapMatches, type TapFilter } from './tap-filter.js';

/** One finished request as the tap streams it (one NDJSON line). */
export interface TapEvent {
  /** Unix time (ms) the exchange ended. */
  readonly time: number;
  readonly direction: Exchange['direction'];
  readonly protocol: Exchange['protocol'];
  readonly method: string;
  readonly authority: string;
  /** The path, credential-named query values redacted. */
  readonly path: string;
  readonly service: string;
  readonly peer: string;
  readonly endpoint: string;
  readonly status: number;
  /** weft's error code, '' when none. */
  readonly error: string;
  readonly durationMs: number;
  readonly failed: boolean;
  /** Request headers, credential values redacted (absent from recent failures). */
  readonly headers: Readonly<Record<string, string>> | undefined;
}

/** Where a tap's events go; returns false when the sink is full and the event was dropped. */
export type TapSink = (line: string) => boolean;

interface Tap {
  readonly filter: TapFilter;
  readonly sink: TapSink;
}

/** Taps and the recent-failures ring of one proxy. */
export class TapHub implements ExchangeObserver {
  // A snapshot replaced on attach/detach, so finishing an exchange never meets a half-changed list.
  #taps: readonly Tap[] = [];
  readonly #ring: (TapEvent | undefined)[];
  #next = 0;
  #failures = 0;
  #dropped = 0;
  readonly #now: () => number;
  readonly #wallNow: () => number;

  /**
   * @param now the clock exchanges' startedMs was read from
   * @param wallNow Unix time in ms, for event times
   * @param ringSize how many recent failures are kept
   */
  constructor(now: () => number, wallNow: () => number, ringSize: number) {
    this.#now = now;
    this.#wallNow = wallNow;
    this.#ring = new Array<TapEvent | undefined>(ringSize).fill(undefined);
  }

  /** Number of taps attached. */
  get taps(): number {
    return this.#taps.length;
  }

  /** Events dropped because a tap's reader was slower than the traffic. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Attaches a tap; returns its detach. */
  attach(filter: TapFilter, sink: TapSink): () => void {
    const tap: Tap = { filter, sink };
    this.#taps = [...this.#taps, tap];
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap);
    };
  }

  /** Called by the recorder once per finished exchange. */
  finished(exchange: Exchange): void {
    const failed = isFailure(exchange.status, exchange.errorCode);
    if (failed) this.#remember(exchange);
    const taps = this.#taps;
    if (taps.length === 0) return;
    let line: string | undefined;
    for (const tap of taps) {
      if (!tapMatches(tap.filter, exchange)) continue;
      line ??= JSON.stringify(this.#event(exchange, failed, true)) + '\n';
      if (!tap.sink(line)) this.#dropped += 1;
    }
  }

  /** The most recent failures, newest first, and how many failures there were in all. */
  recentFailures(): { readonly total: number; readonly failures: readonly TapEvent[] } {
    const failures: TapEvent[] = [];
    const size = this.#ring.length;
    for (let i = 1; i <= size; i++) {
      const event = this.#ring[(this.#next - i + size) % size];
      if (event) failures.push(event);
    }
    return { total: this.#failures, failures };
  }

  #remember(exchange: Exchange): void {
    if (this.#ring.length === 0) return;
    this.#failures += 1;
    this.#ring[this.#next] = this.#event(exchange, true, false);
    this.#next = (this.#next + 1) % this.#ring.length;
  }

  #event(exchange: Exchange, failed: boolean, withHeaders: boolean): TapEvent {
    const event: TapEvent = {
      time: this.#wallNow(),
      direction: exchange.direction,
      protocol: exchange.protocol,
      method: exchange.method,
      authority: exchange.authority,
      path: redactPath(exchange.path),
      service: exchange.service,
      peer: exchange.peer,
      endpoint: exchange.endpoint,
      status: exchange.status,
      error: exchange.errorCode,
      durationMs: Math.round((this.#now() - exchange.startedMs) * 1000) / 1000,
      failed,
      // undefined is left out of the JSON line.
      headers: withHeaders ? redactHeaders(exchange.headers) : undefined,
    };
    return event;
  }
}
