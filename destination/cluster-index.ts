// `weft destination`'s view of the cluster: three cluster-wide list-and-watch loops (Services,
// EndpointSlices, Pods) whatever the proxies ask, trimmed to the fields discovery needs and
// indexed by name, by ClusterIP and by pod IP. A Pod keeps only its service account, IPs, uid,
// the `weft.dev/injected` annotation and `config.weft.dev/opaque-ports`: no spec, no env.
import { Counter, Gauge, type Registry } from 'prom-client';
import { WatchLoop, objectKey, type WatchChange } from '../lib/kube/watch.js';
import { resourcePath, type KubeClient } from '../lib/kube/client.js';
import { formatIdentity } from '../lib/identity.js';
import type { BackoffPolicy } from '../lib/backoff.js';
import type { Logger } from '../lib/logger.js';
import type { Timers } from '../lib/timers.js';
import type { AddressInfo, ServiceRef, ServiceSnapshot } from '../mesh/discovery/endpoint-source.js';
import {
  OPAQUE_PORTS_ANNOTATION,
  parseOpaquePorts,
  snapshotFromKube,
  type EndpointPod,
  type KubeEndpointSlice,
  type KubeService,
  type TargetRef,
} from '../mesh/discovery/kube-snapshot.js';

/** The annotation the injector puts on every pod it gave a sidecar. */
export const INJECTED_ANNOTATION = 'weft.dev/injected';

/** The fields of a Pod the index reads (the rest of the object is dropped on arrival). */
export interface KubePod {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly uid?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: { readonly serviceAccountName?: string; readonly serviceAccount?: string; readonly hostNetwork?: boolean };
  readonly status?: { readonly phase?: string; readonly podIP?: string; readonly podIPs?: readonly { readonly ip?: string }[] };
}

/** What the index keeps of a pod. */
export interface PodFacts {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly identity: string;
  readonly meshed: boolean;
  readonly opaquePorts: readonly number[] | undefined;
  /** Pod IPs; empty for hostNetwork pods (their IP is the node's) and finished pods. */
  readonly ips: readonly string[];
}

/** Trims a Pod to its facts (pure). */
export function podFacts(pod: KubePod, trustDomain: string): PodFacts | undefined {
  const namespace = pod.metadata?.namespace;
  const name = pod.metadata?.name;
  if (!namespace || !name) return undefined;
  const serviceAccount = pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
  const finished = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  const ips = pod.spec?.hostNetwork === true || finished ? [] : [...new Set([pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)].filter((ip): ip is string => !!ip))];
  const annotations = pod.metadata?.annotations ?? {};
  return {
    namespace,
    name,
    uid: pod.metadata?.uid,
    identity: formatIdentity({ trustDomain, namespace, serviceAccount }),
    meshed: annotations[INJECTED_ANNOTATION] !== undefined,
    opaquePorts: parseOpaquePorts(annotations[OPAQUE_PORTS_ANNOTATION]),
    ips,
  };
}

/** Trims a Service to what snapshots and ClusterIP lookups read. */
function trimService(s: KubeService): KubeService {
  const annotation = s.metadata?.annotations?.[OPAQUE_PORTS_ANNOTATION];
  return {
    metadata: { name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '', ...(annotation === undefined ? {} : { annotations: { [OPAQUE_PORTS_ANNOTATION]: annotation } }) },
    spec: {
      ...(s.spec?.clusterIP ? { clusterIP: s.spec.clusterIP } : {}),
      ...(s.spec?.clusterIPs ? { clusterIPs: s.spec.clusterIPs } : {}),
      ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, targetPort: p.targetPort })),
    },
  };
}

/** Trims an EndpointSlice to what snapshots read (managedFields, hints, nodeName dropped). */
function trimSlice(s: KubeEndpointSlice & { metadata?: { labels?: Readonly<Record<string, string>> } }): KubeEndpointSlice {
  return {
    metadata: { name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '' },
    ...(s.addressType === undefined ? {} : { addressType: s.addressType }),
    ports: (s.ports ?? []).map((p) => ({ name: p.name ?? null, port: p.port ?? null, protocol: p.protocol ?? null })),
    endpoints: (s.endpoints ?? []).map((e) => ({
      ...(e.addresses ? { addresses: e.addresses } : {}),
      ...(e.conditions ? { conditions: { ready: e.conditions.ready ?? null, serving: e.conditions.serving ?? null, terminating: e.conditions.terminating ?? null } } : {}),
      ...(e.targetRef ? { targetRef: { kind: e.targetRef.kind, name: e.targetRef.name, namespace: e.targetRef.namespace, uid: e.targetRef.uid } } : {}),
    })),
  };
}

/** Options of the cluster index. */
export interface ClusterIndexOptions {
  readonly client: KubeClient;
  readonly trustDomain: string;
  readonly log: Logger;
  readonly registry: Registry;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

/** Called with the keys (namespace/name) of the Services whose snapshots may have changed; 'all' after a re-list. */
export type IndexListener = (changed: ReadonlySet<string> | 'all') => void;

const SERVICE_LABEL = 'kubernetes.io/service-name';

/** The indexed cluster. */
export class ClusterIndex {
  readonly #o: ClusterIndexOptions;
  readonly #loops: { start(): void; stop(): Promise<void> }[] = [];
  readonly #services = new Map<string, KubeService>();
  readonly #byClusterIp = new Map<string, string>();
  readonly #slices = new Map<string, { service: string; slice: KubeEndpointSlice }>();
  readonly #slicesOf = new Map<string, Set<string>>();
  readonly #pods = new Map<string, PodFacts>();
  readonly #byPodIp = new Map<string, string>();
  /** pod key -> keys of the Services whose slices name it (a pod change republishes them). */
  readonly #podServices = new Map<string, Set<string>>();
  /** address -> keys of the Services whose slices list it (reverse lookups). */
  readonly #addressServices = new Map<string, Set<string>>();
  readonly #listeners = new Set<IndexListener>();
  readonly #synced = new Set<string>();
  readonly #objects: Gauge<'resource'>;
  /** The restarts and relists counters, shared with the other watch loops of `weft destination`. */
  readonly watchCounters: { readonly restarts: Counter<'resource' | 'reason'>; readonly relists: Counter<'resource' | 'reason'> };

  constructor(opts: ClusterIndexOptions) {
    this.#o = opts;
    const restarts = new Counter({
      name: 'weft_destination_watch_restarts_total',
      help: 'Watch restarts against the API server, by resource and reason',
      labelNames: ['resource', 'reason'] as const,
      registers: [opts.registry],
    });
    const relists = new Counter({
      name: 'weft_destination_watch_relists_total',
      help: 'Full lists against the API server, by resource and reason (initial, expired, retry, recheck, continue-expired)',
      labelNames: ['resource', 'reason'] as const,
      registers: [opts.registry],
    });
    this.watchCounters = { restarts, relists };
    this.#objects = new Gauge({ name: 'weft_destination_objects', help: 'Objects held in the index, by resource', labelNames: ['resource'] as const, registers: [opts.registry] });
    const common = {
      client: opts.client,
      restarts,
      relists,
      logger: opts.log,
      ...(opts.timers ? { timers: opts.timers } : {}),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    };
    this.#loops.push(
      new WatchLoop<KubeService>({
        ...common,
        path: resourcePath({ group: '', version: 'v1', resource: 'services' }),
        resourceLabel: 'services',
        onChange: (c) => this.#applyServices(c),
      }),
      new WatchLoop<KubeEndpointSlice>({
        ...common,
        path: resourcePath({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' }),
        resourceLabel: 'endpointslices',
        onChange: (c) => this.#applySlices(c),
      }),
      new WatchLoop<KubePod>({
        ...common,
        path: resourcePath({ group: '', version: 'v1', resource: 'pods' }),
        resourceLabel: 'pods',
        onChange: (c) => this.#applyPods(c),
      }),
    );
  }

  /** True once each of the three resources was listed. */
  get synced(): boolean {
    return this.#synced.size === 3;
  }

  start(): void {
    for (const loop of this.#loops) loop.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#loops.map((l) => l.stop()));
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  onChange(listener: IndexListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The snapshot of a service port, or undefined before the index is synced. */
  snapshot(ref: ServiceRef): ServiceSnapshot | undefined {
    if (!this.synced) return undefined;
    const key = `${ref.namespace}/${ref.name}`;
    const slices = [...(this.#slicesOf.get(key) ?? [])].map((k) => this.#slices.get(k)?.slice).filter((s): s is KubeEndpointSlice => s !== undefined);
    return snapshotFromKube(ref, this.#services.get(key), slices, (target, ns) => this.#endpointPod(target, ns));
  }

  /** What an address is: a Service's ClusterIP (with a port it serves), a pod, or unknown. */
  resolve(address: string, port: number): AddressInfo {
    const serviceKey = this.#byClusterIp.get(address);
    const service = serviceKey === undefined ? undefined : this.#services.get(serviceKey);
    if (service) {
      if (!(service.spec?.ports ?? []).some((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP')) return { kind: 'unknown' };
      const opaque = parseOpaquePorts(service.metadata?.annotations?.[OPAQUE_PORTS_ANNOTATION]);
      const ref = { namespace: service.metadata?.namespace ?? '', name: service.metadata?.name ?? '', port };
      return opaque ? { kind: 'service', service: ref, opaquePorts: opaque } : { kind: 'service', service: ref };
    }
    const podKey = this.#byPodIp.get(address);
    const pod = podKey === undefined ? undefined : this.#pods.get(podKey);
    if (!pod) return { kind: 'unknown' };
    const owned = this.#serviceOf(address, port);
    return {
      kind: 'pod',
      owner: {
        identity: pod.identity,
        podName: pod.name,
        meshed: pod.meshed,
        ...(pod.opaquePorts ? { opaquePorts: pod.opaquePorts } : {}),
        ...(owned ? { service: owned } : {}),
      },
    };
  }

  /** Objects held, for the memory note in the docs and /debug. */
  counts(): { services: number; endpointslices: number; pods: number } {
    return { services: this.#services.size, endpointslices: this.#slices.size, pods: this.#pods.size };
  }

  /** A service listing `address` whose slice port (the pod's port) is `port`, with its service port. */
  #serviceOf(address: string, port: number): ServiceRef | undefined {
    for (const key of this.#addressServices.get(address) ?? []) {
      const service = this.#services.get(key);
      if (!service) continue;
      for (const sliceKey of this.#slicesOf.get(key) ?? []) {
        const slice = this.#slices.get(sliceKey)?.slice;
        const slicePort = (slice?.ports ?? []).find((p) => p.port === port);
        if (!slicePort) continue;
        const servicePort = (service.spec?.ports ?? []).find((p) => (p.name ?? '') === (slicePort.name ?? ''));
        if (servicePort?.port !== undefined) return { namespace: service.metadata?.namespace ?? '', name: service.metadata?.name ?? '', port: servicePort.port };
      }
    }
    return undefined;
  }

  #endpointPod(target: TargetRef, sliceNamespace: string): EndpointPod | undefined {
    if (target.kind !== undefined && target.kind !== 'Pod') return undefined;
    if (!target.name) return undefined;
    const pod = this.#pods.get(`${target.namespace ?? sliceNamespace}/${target.name}`);
    // Same name, other pod (a StatefulSet replica came back): not this endpoint's pod.
    if (!pod || (target.uid && pod.uid && target.uid !== pod.uid)) return undefined;
    return { identity: pod.identity, meshed: pod.meshed, ...(pod.opaquePorts ? { opaquePorts: pod.opaquePorts } : {}) };
  }

  #emit(changed: ReadonlySet<string> | 'all'): void {
    if (!this.synced) return;
    for (const listener of [...this.#listeners]) listener(changed);
  }

  #applyServices(change: WatchChange<KubeService>): void {
    const changed = new Set<string>();
    const put = (s: KubeService): void => {
      const key = objectKey(s);
      this.#dropService(key);
      const trimmed = trimService(s);
      this.#services.set(key, trimmed);
      for (const ip of [trimmed.spec?.clusterIP, ...(trimmed.spec?.clusterIPs ?? [])]) if (ip && ip !== 'None') this.#byClusterIp.set(ip, key);
      changed.add(key);
    };
    if (change.kind === 'replace') {
      for (const key of [...this.#services.keys()]) this.#dropService(key);
      for (const s of change.objects) put(s);
      this.#synced.add('services');
    } else if (change.kind === 'upsert') put(change.object);
    else {
      changed.add(objectKey(change.object));
      this.#dropService(objectKey(change.object));
    }
    this.#objects.set({ resource: 'services' }, this.#services.size);
    this.#emit(change.kind === 'replace' ? 'all' : changed);
  }

  #dropService(key: string): void {
    const old = this.#services.get(key);
    if (!old) return;
    this.#services.delete(key);
    for (const ip of [old.spec?.clusterIP, ...(old.spec?.clusterIPs ?? [])]) if (ip && this.#byClusterIp.get(ip) === key) this.#byClusterIp.delete(ip);
  }

  #applySlices(change: WatchChange<KubeEndpointSlice>): void {
    const changed = new Set<string>();
    const put = (s: KubeEndpointSlice & { metadata?: { labels?: Readonly<Record<string, string>> } }): void => {
      const key = objectKey(s);
      const before = this.#dropSlice(key);
      if (before) changed.add(before);
      const service = s.metadata?.labels?.[SERVICE_LABEL];
      // A slice without the label belongs to no Service (a hand-made one for something else).
      if (!service) return;
      const serviceKey = `${s.metadata?.namespace ?? ''}/${service}`;
      const slice = trimSlice(s);
      this.#slices.set(key, { service: serviceKey, slice });
      addTo(this.#slicesOf, serviceKey, key);
      for (const e of slice.endpoints ?? []) {
        for (const a of e.addresses ?? []) addTo(this.#addressServices, a, serviceKey);
        if (e.targetRef?.name) addTo(this.#podServices, `${e.targetRef.namespace ?? s.metadata?.namespace ?? ''}/${e.targetRef.name}`, serviceKey);
      }
      changed.add(serviceKey);
    };
    if (change.kind === 'replace') {
      for (const key of [...this.#slices.keys()]) this.#dropSlice(key);
      for (const s of change.objects) put(s);
      this.#synced.add('endpointslices');
    } else if (change.kind === 'upsert') put(change.object);
    else {
      const before = this.#dropSlice(objectKey(change.object));
      if (before) changed.add(before);
    }
    this.#objects.set({ resource: 'endpointslices' }, this.#slices.size);
    this.#emit(change.kind === 'replace' ? 'all' : changed);
  }

  /** Removes a slice and its index entries; returns its service key. */
  #dropSlice(key: string): string | undefined {
    const old = this.#slices.get(key);
    if (!old) return undefined;
    this.#slices.delete(key);
    removeFrom(this.#slicesOf, old.service, key);
    const ns = old.slice.metadata?.namespace ?? '';
    for (const e of old.slice.endpoints ?? []) {
      // Another slice of the same service may still list the address or pod.
      for (const a of e.addresses ?? []) if (!this.#stillListed(old.service, (x) => x.addresses?.includes(a) === true)) removeFrom(this.#addressServices, a, old.service);
      const podName = e.targetRef?.name;
      if (podName && !this.#stillListed(old.service, (x) => x.targetRef?.name === podName)) removeFrom(this.#podServices, `${e.targetRef?.namespace ?? ns}/${podName}`, old.service);
    }
    return old.service;
  }

  #stillListed(service: string, test: (e: NonNullable<KubeEndpointSlice['endpoints']>[number]) => boolean): boolean {
    for (const k of this.#slicesOf.get(service) ?? []) if ((this.#slices.get(k)?.slice.endpoints ?? []).some(test)) return true;
    return false;
  }

  #applyPods(change: WatchChange<KubePod>): void {
    const changed = new Set<string>();
    const put = (p: KubePod): void => {
      const facts = podFacts(p, this.#o.trustDomain);
      if (!facts) return;
      const key = `${facts.namespace}/${facts.name}`;
      const old = this.#pods.get(key);
      this.#dropPod(key);
      this.#pods.set(key, facts);
      for (const ip of facts.ips) this.#byPodIp.set(ip, key);
      // Only a change discovery can see republishes (a pod's status changes often).
      if (!old || old.uid !== facts.uid || old.identity !== facts.identity || old.meshed !== facts.meshed || String(old.opaquePorts) !== String(facts.opaquePorts)) {
        for (const s of this.#podServices.get(key) ?? []) changed.add(s);
      }
    };
    if (change.kind === 'replace') {
      for (const key of [...this.#pods.keys()]) this.#dropPod(key);
      for (const p of change.objects) put(p);
      this.#synced.add('pods');
    } else if (change.kind === 'upsert') put(change.object);
    else {
      const key = objectKey(change.object);
      this.#dropPod(key);
      for (const s of this.#podServices.get(key) ?? []) changed.add(s);
    }
    this.#objects.set({ resource: 'pods' }, this.#pods.size);
    this.#emit(change.kind === 'replace' ? 'all' : changed);
  }

  #dropPod(key: string): void {
    const old = this.#pods.get(key);
    if (!old) return;
    this.#pods.delete(key);
    for (const ip of old.ips) if (this.#byPodIp.get(ip) === key) this.#byPodIp.delete(ip);
  }
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
