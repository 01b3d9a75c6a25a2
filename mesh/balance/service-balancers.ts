// One balancer per service a proxy calls: subscribes to the endpoint source on first use,
// rebuilds the service's picker on every snapshot, and unsubscribes when the service goes unused.
import { EndpointLoad, Picker, type PickEntry } from './picker.js';
import { serviceKey, type Endpoint, type EndpointSource, type ServiceRef, type ServiceSnapshot } from '../discovery/endpoint-source.js';

/** What a request learns about its service. */
export type ServiceState =
  | { readonly type: 'pending' }
  | { readonly type: 'unknown' }
  | { readonly type: 'known'; readonly picker: Picker };

/** The endpoints and picker of one service port. */
export class ServiceBalancer {
  readonly ref: ServiceRef;
  readonly #loads = new Map<string, EndpointLoad>();
  readonly #random: () => number;
  #seq = 0;
  #state: ServiceState = { type: 'pending' };
  #endpoints: readonly Endpoint[] = [];
  #waiters: (() => void)[] = [];
  /** Time of the last resolve(), for idle unsubscription. */
  lastUsedMs: number;
  /** Set by the registry: stops the source subscription. */
  unsubscribe: () => void = () => {};

  constructor(ref: ServiceRef, random: () => number, nowMs: number) {
    this.ref = ref;
    this.#random = random;
    this.lastUsedMs = nowMs;
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** Replaces the picker with one built from a full snapshot; loads of kept endpoints carry over. */
  update(snapshot: ServiceSnapshot): void {
    if (snapshot.endpoints === undefined) {
      this.#state = { type: 'unknown' };
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
      this.#state = { type: 'known', picker: new Picker(entries, this.#random, () => ++this.#seq) };
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once the first snapshot is in, or after `timeoutMs` (state stays pending). */
  settled(timeoutMs: number): Promise<void> {
    if (this.#state.type !== 'pending') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve();
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push(wake);
    });
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
      state: this.#state.type,
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

  constructor(source: EndpointSource, opts: { random?: () => number; now?: () => number } = {}) {
    this.#source = source;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? Date.now;
  }

  /** The balancer of a service, subscribing on first use. */
  get(ref: ServiceRef): ServiceBalancer {
    const key = serviceKey(ref);
    let balancer = this.#byKey.get(key);
    if (!balancer) {
      const created = new ServiceBalancer(ref, this.#random, this.#now());
      this.#byKey.set(key, created);
      created.unsubscribe = this.#source.watch(ref, (snapshot) => created.update(snapshot));
      balancer = created;
    }
    balancer.lastUsedMs = this.#now();
    return balancer;
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
