// One balancer per service a proxy calls: subscribes to the endpoint source on first use,
// replaces the service's picker on every snapshot (queue until discovery answers, fail for an
// unknown service, P2C over the ready endpoints), and unsubscribes when the service goes unused.
import { EndpointLoad, FailPicker, Picker, QueuePicker, type PickEntry, type ServicePicker, type ReleaseObserver } from './picker.js';
import type { PickSource } from './pick-queue.js';
import { WeftError } from '../../lib/errors.js';
import { serviceKey, type Endpoint, type EndpointSource, type ServiceRef, type ServiceSnapshot } from '../discovery/endpoint-source.js';

/** What discovery said about a service: nothing yet, no such service, or its endpoints. */
export type ServiceStateName = 'pending' | 'unknown' | 'known';

/** The endpoints and picker of one service port. */
export class ServiceBalancer implements PickSource {
  readonly ref: ServiceRef;
  readonly #loads = new Map<string, EndpointLoad>();
  readonly #random: () => number;
  readonly #observe: ReleaseObserver | undefined;
  #seq = 0;
  #state: ServiceStateName = 'pending';
  #picker: ServicePicker = new QueuePicker();
  #endpoints: readonly Endpoint[] = [];
  #listeners = new Set<() => void>();
  /** Time of the last resolve(), for idle unsubscription. */
  lastUsedMs: number;
  /** Set by the registry: stops the source subscription. */
  unsubscribe: () => void = () => {};

  constructor(ref: ServiceRef, random: () => number, nowMs: number, observe?: ReleaseObserver) {
    this.ref = ref;
    this.#random = random;
    this.lastUsedMs = nowMs;
    this.#observe = observe;
  }

  /** What discovery said so far. */
  get state(): ServiceStateName {
    return this.#state;
  }

  /** The current picker; replaced (never changed) on every snapshot. */
  get picker(): ServicePicker {
    return this.#picker;
  }

  /** Calls `listener` whenever the picker is replaced; returns the unsubscribe. */
  onPickerChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces the picker with one built from a full snapshot; loads of kept endpoints carry over. */
  update(snapshot: ServiceSnapshot): void {
    const name = serviceKey(this.ref);
    if (snapshot.endpoints === undefined) {
      this.#state = 'unknown';
      this.#picker = new FailPicker(new WeftError('WEFT_ERR_UNKNOWN_SERVICE', `no mesh service ${name}`));
      this.#endpoints = [];
    } else {
      const entries: PickEntry[] = [];
      const seen = new Set<string>();
      for (const endpoint of snapshot.endpoints) {
        const key = `${endpoint.address}:${endpoint.port}`;
        seen.add(key);
        let load = this.#loads.get(key);
        if (!load) {
          load = new EndpointLoad();
          this.#loads.set(key, load);
        }
        entries.push({ endpoint, load });
      }
      for (const key of [...this.#loads.keys()]) if (!seen.has(key)) this.#loads.delete(key);
      this.#endpoints = snapshot.endpoints;
      this.#state = 'known';
      this.#picker = new Picker(entries, this.#random, () => ++this.#seq, name, this.#observe);
    }
    for (const listener of [...this.#listeners]) listener();
  }

  /** True while any request to this service is in flight. */
  busy(): boolean {
    for (const load of this.#loads.values()) if (load.outstanding > 0) return true;
    return false;
  }

  /** JSON view for /debug/endpoints. */
  debug(): object {
    return {
      service: serviceKey(this.ref),
      state: this.#state,
      endpoints: this.#endpoints.map((e) => {
        const load = this.#loads.get(`${e.address}:${e.port}`);
        return {
          address: e.address,
          port: e.port,
          identity: e.identity,
          ready: e.ready,
          ...(e.podName === undefined ? {} : { pod: e.podName }),
          outstanding: load?.outstanding ?? 0,
          requests: load?.total ?? 0,
        };
      }),
    };
  }
}

/** The registry of balancers a proxy holds. */
export class ServiceBalancers {
  readonly #source: EndpointSource;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #byKey = new Map<string, ServiceBalancer>();
  readonly #observe: ReleaseObserver | undefined;
  readonly #maxServices: number;
  readonly #onEvict: ((ref: ServiceRef) => void) | undefined;

  /**
   * `observe` is told how every picked request ended (failure accrual, latency scoring).
   * `maxServices` bounds the services held at once: a new one evicts the least recently used
   * service with nothing in flight (told to `onEvict`), so made-up Hosts cannot grow it without end.
   */
  constructor(
    source: EndpointSource,
    opts: { random?: () => number; now?: () => number; observe?: ReleaseObserver; maxServices?: number; onEvict?: (ref: ServiceRef) => void } = {},
  ) {
    this.#source = source;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? Date.now;
    this.#observe = opts.observe;
    this.#maxServices = opts.maxServices ?? Infinity;
    this.#onEvict = opts.onEvict;
  }

  /** Services held now. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The balancer of a service, subscribing on first use. */
  get(ref: ServiceRef): ServiceBalancer {
    const key = serviceKey(ref);
    let balancer = this.#byKey.get(key);
    if (!balancer) {
      if (this.#byKey.size >= this.#maxServices) this.#evictOne();
      const created = new ServiceBalancer(ref, this.#random, this.#now(), this.#observe);
      this.#byKey.set(key, created);
      created.unsubscribe = this.#source.watch(ref, (snapshot) => created.update(snapshot));
      balancer = created;
    }
    balancer.lastUsedMs = this.#now();
    return balancer;
  }

  /** Drops the least recently used service with nothing in flight (a scan: only on a new service at the cap). */
  #evictOne(): void {
    let oldest: [string, ServiceBalancer] | undefined;
    for (const entry of this.#byKey) if (!entry[1].busy() && (!oldest || entry[1].lastUsedMs < oldest[1].lastUsedMs)) oldest = entry;
    if (!oldest) return;
    oldest[1].unsubscribe();
    this.#byKey.delete(oldest[0]);
    this.#onEvict?.(oldest[1].ref);
  }

  /** Unsubscribes services not used for `idleMs` and with nothing in flight. */
  sweep(idleMs: number): number {
    const cutoff = this.#now() - idleMs;
    let removed = 0;
    for (const [key, balancer] of this.#byKey) {
      if (balancer.lastUsedMs < cutoff && !balancer.busy()) {
        balancer.unsubscribe();
        this.#byKey.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /** Every balancer's JSON view. */
  debug(): object[] {
    return [...this.#byKey.values()].map((b) => b.debug());
  }

  /** Stops every subscription. */
  close(): void {
    for (const balancer of this.#byKey.values()) balancer.unsubscribe();
    this.#byKey.clear();
  }
}
