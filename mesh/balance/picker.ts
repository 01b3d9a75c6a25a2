// Per-request endpoint choice (the grpc-js picker model): a picker is an immutable snapshot that
// endpoint changes replace, and pick() is synchronous and answers complete / queue / fail. A
// completed pick carries release(outcome), the one place an endpoint's request ends.
import type { Endpoint } from '../discovery/endpoint-source.js';
import { WeftError } from '../../lib/errors.js';
import { awaitsProbe, compareCosts, costOf, inPanic, isEjected, observeLatency, observeOutcome, ServiceHealth, type BalanceOptions, type HealthState } from './endpoint-health.js';

/** Live load and health of one endpoint; survives picker rebuilds so counts stay true across updates. */
export class EndpointLoad implements HealthState {
  /** Requests sent and not yet finished. */
  outstanding = 0;
  /** Sequence number of the last pick; the older one wins a tie. */
  lastPicked = 0;
  /** Requests ever sent (for /debug/endpoints). */
  total = 0;
  rttMs = -1;
  rttAtMs = 0;
  warm = false;
  failures = 0;
  ejections = 0;
  ejectedUntilMs = 0;
  ejectedAtMs = 0;
  probing = false;
}

/** An endpoint with its load counter. */
export interface PickEntry {
  readonly endpoint: Endpoint;
  readonly load: EndpointLoad;
}

/** How a picked request ended: what failure accrual and latency scoring will read. */
export interface PickOutcome {
  /** success: answered; failure: the mesh failed it (code says how); cancelled: the client left. */
  readonly result: 'success' | 'failure' | 'cancelled';
  /** The weft error code of a failure ('' otherwise). */
  readonly code: string;
  /** Time from the pick to the end of the exchange, in ms (-1 when not measured). */
  readonly latencyMs: number;
  /** The response status the endpoint answered with (0 when none arrived); a 5xx counts as a failure. */
  readonly status: number;
}

/** An endpoint chosen for one request; release() must be called exactly once when it ends. */
export interface CompletedPick {
  readonly type: 'complete';
  readonly endpoint: Endpoint;
  /** Ends the request on this endpoint; later calls are ignored. */
  release(outcome: PickOutcome): void;
}

/** Result of a pick, as a tagged union (grpc-js PickResultType). */
export type PickResult =
  | CompletedPick
  | { readonly type: 'queue' }
  | { readonly type: 'fail'; readonly error: WeftError };

/** What every picker answers. */
export interface ServicePicker {
  /** Chooses an endpoint; `avoid` (a retry's last endpoint) is not chosen when another one can be. */
  pick(avoid?: Endpoint): PickResult;
}

/** Observes the end of every completed pick (the hook failure accrual and EWMA plug into). */
export type ReleaseObserver = (endpoint: Endpoint, outcome: PickOutcome) => void;

const QUEUE: PickResult = { type: 'queue' };

/** Discovery has not answered yet: every pick waits for the next picker. */
export class QueuePicker implements ServicePicker {
  pick(): PickResult {
    return QUEUE;
  }
}

/** Every pick fails with the same error (an unknown service). */
export class FailPicker implements ServicePicker {
  readonly #result: PickResult;

  constructor(error: WeftError) {
    this.#result = { type: 'fail', error };
  }

  pick(): PickResult {
    return this.#result;
  }
}

/**
 * Power of two choices among the ready entries of one service: by Peak-EWMA cost (latency times
 * outstanding requests) when balance options are given, else by outstanding requests; ejected
 * endpoints are skipped unless too few are left (panic), and one whose ejection ran out gets the
 * next request as its probe.
 */
export class Picker implements ServicePicker {
  readonly #ready: readonly PickEntry[];
  readonly #random: () => number;
  readonly #nextSeq: () => number;
  readonly #name: string;
  readonly #observe: ReleaseObserver | undefined;
  readonly #opts: BalanceOptions | undefined;
  readonly #health: ServiceHealth;

  /**
   * @param entries every endpoint with its load; only ready ones are ever picked
   * @param random uniform [0,1) source (Math.random in production, seeded in tests)
   * @param nextSeq monotonic counter shared by the pickers of one service
   * @param name the service, for the error when nothing is ready
   * @param observe told of every release, after the load count dropped
   * @param opts latency scoring and failure accrual (without: fewest outstanding, no ejection)
   * @param health the service's ejection count, shared by its successive pickers
   */
  constructor(entries: readonly PickEntry[], random: () => number, nextSeq: () => number, name = 'the service', observe?: ReleaseObserver, opts?: BalanceOptions, health = new ServiceHealth()) {
    this.#ready = entries.filter((e) => e.endpoint.ready);
    this.#random = random;
    this.#nextSeq = nextSeq;
    this.#name = name;
    this.#observe = observe;
    this.#opts = opts;
    this.#health = health;
    health.size = this.#ready.length;
  }

  /** Number of endpoints this picker can choose from. */
  get size(): number {
    return this.#ready.length;
  }

  /** Chooses an endpoint and counts the request on it until release(). */
  pick(avoid?: Endpoint): PickResult {
    const n = this.#ready.length;
    if (n === 0) return { type: 'fail', error: new WeftError('WEFT_ERR_NO_ENDPOINTS', `${this.#name} has no ready endpoint`) };
    const opts = this.#opts;
    let chosen: PickEntry;
    let probe = false;
    if (n === 1) {
      chosen = this.#ready[0] as PickEntry;
    } else if (avoid === undefined && (this.#health.ejected === 0 || opts === undefined)) {
      // The hot path: nothing ejected, nothing to avoid.
      const i = Math.floor(this.#random() * n);
      // Second choice drawn from the other n-1 so the two are always distinct.
      let j = Math.floor(this.#random() * (n - 1));
      if (j >= i) j += 1;
      chosen = this.#prefer(this.#ready[i] as PickEntry, this.#ready[j] as PickEntry);
    } else {
      const slow = this.#pickAmong(avoid);
      chosen = slow.entry;
      probe = slow.probe;
    }
    chosen.load.lastPicked = this.#nextSeq();
    chosen.load.outstanding += 1;
    chosen.load.total += 1;
    if (probe) chosen.load.probing = true;
    return completed(chosen, this.#observe, opts, this.#health, probe);
  }

  // Ejections or a retry's endpoint to avoid: an endpoint due for its probe gets this request;
  // else P2C among the available ones (all ready ones in panic), avoiding `avoid` when possible.
  #pickAmong(avoid: Endpoint | undefined): { entry: PickEntry; probe: boolean } {
    const opts = this.#opts;
    const nowMs = opts ? opts.now() : 0;
    const available: PickEntry[] = [];
    for (const entry of this.#ready) {
      if (opts && isEjected(entry.load)) {
        if (awaitsProbe(entry.load, nowMs) && entry.endpoint !== avoid) return { entry, probe: true };
        continue;
      }
      available.push(entry);
    }
    let pool: readonly PickEntry[] = opts && inPanic(available.length, this.#ready.length, opts) ? this.#ready : available;
    if (avoid !== undefined && pool.length > 1) {
      const others = pool.filter((e) => e.endpoint !== avoid);
      if (others.length > 0) pool = others;
    }
    const n = pool.length;
    if (n === 1) return { entry: pool[0] as PickEntry, probe: false };
    const i = Math.floor(this.#random() * n);
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j += 1;
    return { entry: this.#prefer(pool[i] as PickEntry, pool[j] as PickEntry), probe: false };
  }

  // The lower Peak-EWMA cost wins when the two differ by more than a quarter and 5 ms (closer than
  // that is noise, and steering by it would bunch sequential requests); then fewer outstanding;
  // then the one picked longest ago, which spreads sequential requests on one connection evenly.
  #prefer(a: PickEntry, b: PickEntry): PickEntry {
    const opts = this.#opts;
    if (opts?.ewma) {
      const nowMs = opts.now();
      const order = compareCosts(costOf(a.load, opts, nowMs), costOf(b.load, opts, nowMs));
      if (order !== 0) return order < 0 ? a : b;
    }
    if (a.load.outstanding !== b.load.outstanding) return a.load.outstanding < b.load.outstanding ? a : b;
    return a.load.lastPicked <= b.load.lastPicked ? a : b;
  }
}

/** A pick of a fixed endpoint outside any balancer (a pod addressed by IP); release only notifies. */
export function directPick(endpoint: Endpoint): CompletedPick {
  return completed({ endpoint, load: new EndpointLoad() }, undefined, undefined, new ServiceHealth(), false);
}

function completed(entry: PickEntry, observe: ReleaseObserver | undefined, opts: BalanceOptions | undefined, health: ServiceHealth, probe: boolean): CompletedPick {
  let released = false;
  return {
    type: 'complete',
    endpoint: entry.endpoint,
    release(outcome: PickOutcome): void {
      if (released) return;
      released = true;
      const load = entry.load;
      if (load.outstanding > 0) load.outstanding -= 1;
      if (opts && outcome.result !== 'cancelled') {
        const nowMs = opts.now();
        if (opts.ewma && outcome.latencyMs >= 0) observeLatency(load, opts, nowMs, outcome.latencyMs);
        const ejectedMs = observeOutcome(load, health, opts, nowMs, outcome.result === 'failure' || outcome.status >= 500, probe);
        if (ejectedMs > 0 && opts.onEject) opts.onEject(entry.endpoint, ejectedMs);
      } else if (probe) {
        // A probe the client cancelled tells nothing: the next pick probes again.
        load.probing = false;
      }
      if (observe) observe(entry.endpoint, outcome);
    },
  };
}

/** The outcome of a request that succeeded after `latencyMs`. */
export function succeeded(latencyMs = -1, status = 0): PickOutcome {
  return { result: 'success', code: '', latencyMs, status };
}

/** The outcome of a request whose client left before it ended (or that was never sent). */
export function cancelled(latencyMs = -1): PickOutcome {
  return { result: 'cancelled', code: '', latencyMs, status: 0 };
}

/** The outcome of a request the mesh failed with the weft error `code`. */
export function failed(code: string, latencyMs = -1, status = 0): PickOutcome {
  return { result: 'failure', code, latencyMs, status };
}
