// Keeps a synchronous view of the endpoints of every service the route table names, fed by an
// EndpointSource, and picks one ready endpoint per request (power of two choices on in-flight
// requests), so the request path never awaits discovery.
import { serviceKey, type Endpoint, type EndpointSource, type ServiceRef, type ServiceSnapshot } from '../discovery/endpoint-source.js';

/** What a request learns about its backend service. */
export type EndpointPick =
  | { readonly kind: 'endpoint'; readonly endpoint: Endpoint; readonly release: () => void }
  | { readonly kind: 'unknown-service' }
  | { readonly kind: 'no-endpoints' };

/** The subscriptions for the services of the current route table. */
export class BackendEndpoints {
  readonly #source: EndpointSource;
  readonly #subs = new Map<string, { stop: () => void; snapshot: ServiceSnapshot | undefined }>();
  readonly #inflight = new Map<string, number>();

  constructor(source: EndpointSource) {
    this.#source = source;
  }

  /** Watches exactly these services: new ones are subscribed, dropped ones unsubscribed. */
  track(refs: readonly ServiceRef[]): void {
    const want = new Map(refs.map((r) => [serviceKey(r), r]));
    for (const [key, sub] of this.#subs) {
      if (!want.has(key)) {
        sub.stop();
        this.#subs.delete(key);
      }
    }
    for (const [key, ref] of want) {
      if (this.#subs.has(key)) continue;
      const entry: { stop: () => void; snapshot: ServiceSnapshot | undefined } = { stop: () => undefined, snapshot: undefined };
      this.#subs.set(key, entry);
      entry.stop = this.#source.watch(ref, (s) => {
        entry.snapshot = s;
      });
    }
  }

  /** Picks a ready endpoint of `ref`; `random` returns [0, 1). Call release() when the request ends. */
  pick(ref: ServiceRef, random: () => number): EndpointPick {
    const snap = this.#subs.get(serviceKey(ref))?.snapshot;
    // Not yet known counts as "no endpoint" (503, retryable), not as "no such service" (500).
    if (!snap) return { kind: 'no-endpoints' };
    if (snap.endpoints === undefined) return { kind: 'unknown-service' };
    const ready = snap.endpoints.filter((e) => e.ready);
    if (ready.length === 0) return { kind: 'no-endpoints' };
    const a = ready[Math.floor(random() * ready.length)] as Endpoint;
    const b = ready[Math.floor(random() * ready.length)] as Endpoint;
    const chosen = this.#load(a) <= this.#load(b) ? a : b;
    const key = `${chosen.address}:${chosen.port}`;
    this.#inflight.set(key, (this.#inflight.get(key) ?? 0) + 1);
    let released = false;
    return {
      kind: 'endpoint',
      endpoint: chosen,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.#inflight.get(key) ?? 1) - 1;
        if (n <= 0) this.#inflight.delete(key);
        else this.#inflight.set(key, n);
      },
    };
  }

  #load(e: Endpoint): number {
    return this.#inflight.get(`${e.address}:${e.port}`) ?? 0;
  }

  /** Stops every subscription. */
  close(): void {
    for (const sub of this.#subs.values()) sub.stop();
    this.#subs.clear();
  }
}
