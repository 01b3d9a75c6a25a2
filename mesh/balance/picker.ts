// Per-request endpoint choice: power of two choices over the fewest outstanding requests.
// A Picker is an immutable snapshot (as in grpc-js): endpoint changes build a new one, and
// pick() is synchronous, so a request never waits on a lock.
import type { Endpoint } from '../discovery/endpoint-source.js';

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

/** Result of a pick, as a tagged union. */
export type PickResult =
  | { readonly type: 'pick'; readonly entry: PickEntry }
  | { readonly type: 'no-endpoints' };

/** Picks among the ready entries of one service. */
export class Picker {
  readonly #ready: readonly PickEntry[];
  readonly #random: () => number;
  readonly #nextSeq: () => number;

  /**
   * @param entries every endpoint with its load; only ready ones are ever picked
   * @param random uniform [0,1) source (Math.random in production, seeded in tests)
   * @param nextSeq monotonic counter shared by the pickers of one service
   */
  constructor(entries: readonly PickEntry[], random: () => number, nextSeq: () => number) {
    this.#ready = entries.filter((e) => e.endpoint.ready);
    this.#random = random;
    this.#nextSeq = nextSeq;
  }

  /** Number of endpoints this picker can choose from. */
  get size(): number {
    return this.#ready.length;
  }

  /** Chooses an endpoint and records the pick; the caller must call done() on the load. */
  pick(): PickResult {
    const n = this.#ready.length;
    if (n === 0) return { type: 'no-endpoints' };
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
    return { type: 'pick', entry: chosen };
  }
}

// Fewer outstanding requests wins; on a tie, the one picked longest ago, which spreads
// sequential requests on one connection evenly instead of by coin toss.
function prefer(a: PickEntry, b: PickEntry): PickEntry {
  if (a.load.outstanding !== b.load.outstanding) return a.load.outstanding < b.load.outstanding ? a : b;
  return a.load.lastPicked <= b.load.lastPicked ? a : b;
}

/** Marks a picked request finished. */
export function release(load: EndpointLoad): void {
  if (load.outstanding > 0) load.outstanding -= 1;
}
