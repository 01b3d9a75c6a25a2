// Per-request endpoint choice (the grpc-js picker model): a picker is an immutable snapshot that
// endpoint changes replace, and pick() is synchronous and answers complete / queue / fail. A
// completed pick carries release(outcome), the one place an endpoint's request ends.
import type { Endpoint } from '../discovery/endpoint-source.js';
import { WeftError } from '../../lib/errors.js';

/** Live load of one endpoint; survives picker rebuilds so counts stay true across updates. */
export class EndpointLoad {
  /** Requests sent and not yet finished. */
  outstanding = 0;
  /** Sequence number of the last pick; the older one wins a tie. */
  lastPicked = 0;
  /** Requests ever sent (for /debug/endpoints). */
  total = 0;
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
  pick(): PickResult;
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

/** Power of two choices over the fewest outstanding requests, among the ready entries of one service. */
export class Picker implements ServicePicker {
  readonly #ready: readonly PickEntry[];
  readonly #random: () => number;
  readonly #nextSeq: () => number;
  readonly #name: string;
  readonly #observe: ReleaseObserver | undefined;

  /**
   * @param entries every endpoint with its load; only ready ones are ever picked
   * @param random uniform [0,1) source (Math.random in production, seeded in tests)
   * @param nextSeq monotonic counter shared by the pickers of one service
   * @param name the service, for the error when nothing is ready
   * @param observe told of every release, after the load count dropped
   */
  constructor(entries: readonly PickEntry[], random: () => number, nextSeq: () => number, name = 'the service', observe?: ReleaseObserver) {
    this.#ready = entries.filter((e) => e.endpoint.ready);
    this.#random = random;
    this.#nextSeq = nextSeq;
    this.#name = name;
    this.#observe = observe;
  }

  /** Number of endpoints this picker can choose from. */
  get size(): number {
    return this.#ready.length;
  }

  /** Chooses an endpoint and counts the request on it until release(). */
  pick(): PickResult {
    const n = this.#ready.length;
    if (n === 0) return { type: 'fail', error: new WeftError('WEFT_ERR_NO_ENDPOINTS', `${this.#name} has no ready endpoint`) };
    let chosen: PickEntry;
    if (n === 1) {
      chosen = this.#ready[0] as PickEntry;
    } else {
      const i = Math.floor(this.#random() * n);
      // Second choice drawn from the other n-1 so the two are always distinct.
      let j = Math.floor(this.#random() * (n - 1));
      if (j >= i) j += 1;
      const a = this.#ready[i] as PickEntry;
      const b = this.#ready[j] as PickEntry;
      chosen = prefer(a, b);
    }
    chosen.load.lastPicked = this.#nextSeq();
    chosen.load.outstanding += 1;
    chosen.load.total += 1;
    return completed(chosen, this.#observe);
  }
}

/** A pick of a fixed endpoint outside any balancer (a pod addressed by IP); release only notifies. */
export function directPick(endpoint: Endpoint): CompletedPick {
  return completed({ endpoint, load: new EndpointLoad() }, undefined);
}

function completed(entry: PickEntry, observe: ReleaseObserver | undefined): CompletedPick {
  let released = false;
  return {
    type: 'complete',
    endpoint: entry.endpoint,
    release(outcome: PickOutcome): void {
      if (released) return;
      released = true;
      if (entry.load.outstanding > 0) entry.load.outstanding -= 1;
      if (observe) observe(entry.endpoint, outcome);
    },
  };
}

// Fewer outstanding requests wins; on a tie, the one picked longest ago, which spreads
// sequential requests on one connection evenly instead of by coin toss.
function prefer(a: PickEntry, b: PickEntry): PickEntry {
  if (a.load.outstanding !== b.load.outstanding) return a.load.outstanding < b.load.outstanding ? a : b;
  return a.load.lastPicked <= b.load.lastPicked ? a : b;
}

/** The outcome of a request that succeeded after `latencyMs`. */
export function succeeded(latencyMs = -1): PickOutcome {
  return { result: 'success', code: '', latencyMs };
}
