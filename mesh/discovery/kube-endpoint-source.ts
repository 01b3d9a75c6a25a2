// Kubernetes mode's endpoint source: for each service a proxy calls, a watch of its Service and
// of its EndpointSlices (label kubernetes.io/service-name), started on first use and stopped when
// unused; each endpoint's expected identity from its pod's service account (a GET per pod,
// cached: a pod's service account never changes). Snapshots are rebuilt by kube-snapshot.ts.
// While the API server is unreachable the watches retry and the last snapshots keep serving.
import { Counter, Gauge, type Registry } from '../../lib/metrics-client.js';
import { serviceKey, type EndpointSource, type ServiceRef, type ServiceSnapshot } from './endpoint-source.js';
import { sameSnapshot, snapshotFromKube, type KubeEndpointSlice, type KubeService, type TargetRef } from './kube-snapshot.js';
import { formatIdentity } from '../../lib/identity.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../../lib/kube/client.js';
import { applyWatchChange, WatchLoop } from '../../lib/kube/watch.js';
import { backoffDelayMs, type BackoffPolicy } from '../../lib/backoff.js';
import type { Logger } from '../../lib/logger.js';
import { realTimers, sleep, type TimerHandle, type Timers } from '../../lib/timers.js';

/** Options of the kubernetes endpoint source. */
export interface KubeEndpointSourceOptions {
  readonly client: KubeClient;
  readonly trustDomain: string;
  readonly log: Logger;
  readonly registry: Registry;
  /** The proxy's namespace: where the start-up reachability check lists services. */
  readonly namespace: string;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  /** Pods looked up at once (a burst of new endpoints must not open thousands of requests). */
  readonly podLookupConcurrency?: number;
  /** Clock and timers of every wait: retries and the watch loops' backoff (fake in tests). */
  readonly timers?: Timers;
}

interface PodEntry {
  uid: string | undefined;
  identity: string | undefined;
  state: 'pending' | 'known' | 'failed';
  attempts: number;
  /** Service watches waiting for this pod. */
  readonly waiters: Set<ServiceWatch>;
}

/** Most pods remembered; the oldest are forgotten first (pods come and go). */
const POD_CACHE_LIMIT = 100_000;

/** Watches one Service and its slices, and feeds the subscribers of each of its ports. */
class ServiceWatch {
  readonly namespace: string;
  readonly name: string;
  readonly subscribers = new Map<number, Set<(s: ServiceSnapshot) => void>>();
  readonly #last = new Map<number, ServiceSnapshot>();
  #service = new Map<string, KubeService>();
  #slices = new Map<string, KubeEndpointSlice>();
  #serviceSynced = false;
  #slicesSynced = false;
  readonly #loops: WatchLoop<KubeService | KubeEndpointSlice>[] = [];
  readonly #source: KubeEndpointSource;

  constructor(source: KubeEndpointSource, namespace: string, name: string, deps: LoopDeps) {
    this.#source = source;
    this.namespace = namespace;
    this.name = name;
    const common = {
      client: deps.client,
      restarts: deps.restarts,
      logger: deps.log,
      timers: deps.timers,
      ...(deps.backoff ? { backoff: deps.backoff } : {}),
      ...(deps.random ? { random: deps.random } : {}),
    };
    this.#loops.push(
      new WatchLoop<KubeService>({
        ...common,
        path: resourcePath({ group: '', version: 'v1', resource: 'services', namespace }),
        fieldSelector: `metadata.name=${name}`,
        resourceLabel: 'services',
        onChange: (change) => {
          this.#service = applyWatchChange(this.#service, change);
          if (change.kind === 'replace') this.#serviceSynced = true;
          this.publish();
        },
      }),
      new WatchLoop<KubeEndpointSlice>({
        ...common,
        path: resourcePath({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespace }),
        labelSelector: `kubernetes.io/service-name=${name}`,
        resourceLabel: 'endpointslices',
        onChange: (change) => {
          this.#slices = applyWatchChange(this.#slices, change);
          if (change.kind === 'replace') this.#slicesSynced = true;
          this.publish();
        },
      }),
    );
  }

  start(): void {
    for (const loop of this.#loops) loop.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#loops.map((l) => l.stop()));
  }

  /** Set while building a snapshot when some endpoint's pod is still being looked up. */
  lookupPending = false;

  /** The current snapshot of one port, once both the Service and its slices were listed. */
  snapshot(port: number): ServiceSnapshot | undefined {
    if (!this.#serviceSynced || !this.#slicesSynced) return undefined;
    const ref: ServiceRef = { namespace: this.namespace, name: this.name, port };
    this.lookupPending = false;
    return snapshotFromKube(ref, this.#service.values().next().value, this.#slices.values(), (target, ns) => this.#source.identityOf(target, ns, this));
  }

  /** Rebuilds each subscribed port's snapshot and sends the ones that changed. */
  publish(): void {
    for (const [port, listeners] of this.subscribers) {
      const snap = this.snapshot(port);
      // The first snapshot waits for the pod lookups in flight (a few ms), or the first requests
      // would find every endpoint "not ready"; the lookup's end publishes again.
      if (!snap || (this.lookupPending && !this.#last.has(port)) || sameSnapshot(this.#last.get(port), snap)) continue;
      this.#last.set(port, snap);
      for (const listener of listeners) listener(snap);
    }
  }

  /** Sends the last snapshot of a port to a late subscriber. */
  last(port: number): ServiceSnapshot | undefined {
    const known = this.#last.get(port);
    if (known) return known;
    const snap = this.snapshot(port);
    if (!snap || this.lookupPending) return undefined;
    this.#last.set(port, snap);
    return snap;
  }
}

interface LoopDeps {
  readonly client: KubeClient;
  readonly restarts: Counter<'resource' | 'reason'>;
  readonly log: Logger;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  readonly timers: Timers;
}

/** EndpointSource over the Kubernetes API. */
export class KubeEndpointSource implements EndpointSource {
  readonly #o: KubeEndpointSourceOptions;
  readonly #deps: LoopDeps;
  readonly #services = new Map<string, ServiceWatch>();
  readonly #pods = new Map<string, PodEntry>();
  readonly #podQueue: string[] = [];
  #podInFlight = 0;
  #synced = false;
  #closed = false;
  readonly #watched: Gauge;
  readonly #abort = new AbortController();
  readonly #retries = new Set<TimerHandle>();
  readonly #clock: Timers;

  constructor(opts: KubeEndpointSourceOptions) {
    this.#o = opts;
    this.#clock = opts.timers ?? realTimers;
    const restarts = new Counter({
      name: 'weft_discovery_watch_restarts_total',
      help: 'Watch restarts against the API server, by resource and reason (expired: 410 re-list; error: broken or refused; closed: ended by the server)',
      labelNames: ['resource', 'reason'] as const,
      registers: [opts.registry],
    });
    this.#watched = new Gauge({ name: 'weft_discovery_watched_services', help: 'Services with live watches', registers: [opts.registry] });
    this.#deps = {
      client: opts.client,
      restarts,
      log: opts.log,
      timers: this.#clock,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    };
  }

  /** True once the API server answered a list (so /ready waits for a reachable, permitted API). */
  get synced(): boolean {
    return this.#synced;
  }

  /** Checks the API server can be reached and read, retrying with backoff until it can. */
  async start(): Promise<void> {
    const path = `${resourcePath({ group: '', version: 'v1', resource: 'services', namespace: this.#o.namespace })}?limit=1`;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.#o.client.request('GET', path);
        this.#synced = true;
        this.#o.log.info({ cluster: this.#o.client.connection.server }, 'API server reachable; discovery ready');
        return;
      } catch (err) {
        const delay = backoffDelayMs(attempt, this.#o.backoff ?? { initialMs: 200, maxMs: 10_000 }, this.#o.random ?? Math.random);
        this.#o.log.warn({ err: (err as Error).message, retryInMs: delay }, 'API server not reachable yet');
        await sleep(this.#clock, delay, this.#abort.signal);
      }
    }
  }

  watch(ref: ServiceRef, onUpdate: (snapshot: ServiceSnapshot) => void): () => void {
    const key = `${ref.namespace}/${ref.name}`;
    let sw = this.#services.get(key);
    if (!sw) {
      sw = new ServiceWatch(this, ref.namespace, ref.name, this.#deps);
      this.#services.set(key, sw);
      this.#watched.set(this.#services.size);
      sw.start();
      this.#o.log.debug({ service: serviceKey(ref) }, 'watching service');
    }
    let listeners = sw.subscribers.get(ref.port);
    if (!listeners) {
      listeners = new Set();
      sw.subscribers.set(ref.port, listeners);
    }
    listeners.add(onUpdate);
    const known = sw.last(ref.port);
    if (known) onUpdate(known);
    const watch = sw;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const set = watch.subscribers.get(ref.port);
      set?.delete(onUpdate);
      if (set && set.size === 0) watch.subscribers.delete(ref.port);
      if (watch.subscribers.size === 0 && this.#services.get(key) === watch) {
        this.#services.delete(key);
        this.#watched.set(this.#services.size);
        watch.stop().catch((err: unknown) => this.#o.log.warn({ service: key, err: (err as Error).message }, 'stopping an unused watch failed'));
        this.#o.log.debug({ service: key }, 'service unused; watch stopped');
      }
    };
  }

  /** The SPIFFE identity of the pod behind an endpoint; starts a lookup when unknown. */
  identityOf(target: TargetRef, sliceNamespace: string, waiter: ServiceWatch): string | undefined {
    if (target.kind !== undefined && target.kind !== 'Pod') return undefined;
    const namespace = target.namespace ?? sliceNamespace;
    const name = target.name;
    if (!name) return undefined;
    const key = `${namespace}/${name}`;
    let entry = this.#pods.get(key);
    if (entry && entry.state === 'known' && target.uid && entry.uid && entry.uid !== target.uid) {
      // Same name, new pod (a StatefulSet replica came back): look again.
      entry.state = 'pending';
      entry.identity = undefined;
      entry.attempts = 0;
      this.#enqueue(key);
    }
    if (!entry) {
      entry = { uid: target.uid, identity: undefined, state: 'pending', attempts: 0, waiters: new Set() };
      this.#pods.set(key, entry);
      if (this.#pods.size > POD_CACHE_LIMIT) {
        const oldest = this.#pods.keys().next().value;
        if (oldest !== undefined) this.#pods.delete(oldest);
      }
      this.#enqueue(key);
    }
    if (entry.state !== 'known') entry.waiters.add(waiter);
    if (entry.state === 'pending') waiter.lookupPending = true;
    return entry.identity;
  }

  #enqueue(key: string): void {
    this.#podQueue.push(key);
    this.#pump();
  }

  #pump(): void {
    const limit = this.#o.podLookupConcurrency ?? 32;
    while (this.#podInFlight < limit && this.#podQueue.length > 0 && !this.#closed) {
      const key = this.#podQueue.shift();
      if (key === undefined) break;
      this.#podInFlight += 1;
      // #lookup records its own failures on the entry; the catch only keeps a bug from escaping.
      this.#lookup(key)
        .catch((err: unknown) => this.#o.log.error({ pod: key, err: (err as Error).message }, 'pod lookup failed'))
        .finally(() => {
          this.#podInFlight -= 1;
          this.#pump();
        });
    }
  }

  async #lookup(key: string): Promise<void> {
    const entry = this.#pods.get(key);
    if (!entry) return;
    const [namespace = '', name = ''] = key.split('/');
    try {
      const pod = await this.#o.client.request<{ metadata?: { uid?: string }; spec?: { serviceAccountName?: string; serviceAccount?: string } }>(
        'GET',
        resourcePath({ group: '', version: 'v1', resource: 'pods', namespace, name }),
      );
      const sa = pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
      entry.identity = formatIdentity({ trustDomain: this.#o.trustDomain, namespace, serviceAccount: sa });
      entry.uid = pod.metadata?.uid ?? entry.uid;
      entry.state = 'known';
      entry.attempts = 0;
    } catch (err) {
      entry.state = 'failed';
      entry.attempts += 1;
      const delay = backoffDelayMs(entry.attempts - 1, this.#o.backoff ?? { initialMs: 500, maxMs: 30_000 }, this.#o.random ?? Math.random);
      this.#o.log.warn(
        { pod: key, err: (err as Error).message, retryInMs: delay, gone: isKubeStatus(err, 404) },
        "cannot read the pod behind an endpoint; it gets no traffic until its service account is known",
      );
      if (!this.#closed) {
        const t = this.#clock.setTimeout(() => {
          this.#retries.delete(t);
          // Only while some service still shows this pod.
          if (entry.waiters.size > 0 && this.#pods.get(key) === entry) {
            entry.state = 'pending';
            this.#enqueue(key);
          }
        }, delay);
        t.unref();
        this.#retries.add(t);
      }
      // A first snapshot held back for this lookup goes out now, without this endpoint ready.
      for (const sw of entry.waiters) if (this.#services.has(`${sw.namespace}/${sw.name}`)) sw.publish();
      return;
    }
    const waiters = [...entry.waiters];
    entry.waiters.clear();
    for (const sw of waiters) if (this.#services.has(`${sw.namespace}/${sw.name}`)) sw.publish();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    for (const t of this.#retries) this.#clock.clearTimeout(t);
    const all = [...this.#services.values()];
    this.#services.clear();
    this.#watched.set(0);
    await Promise.all(all.map((sw) => sw.stop()));
  }
}
