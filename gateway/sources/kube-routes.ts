// Kubernetes mode's route source: list-then-watch of the route kinds (Gateway API objects,
// Ingresses, Namespaces and the weft.dev policy kinds) across namespaces, plus a GET of each
// TLS Secret a listener or Ingress names (the chart grants Secrets by name only); each settled
// change hands the objects themselves (no YAML round trip) to the same StateLoader and reader as
// the file, which judges them per object: a bad object is left out alone. A kind the API server
// does not serve (a CRD not installed) is an empty collection, picked up when it appears.
import type { Counter } from 'prom-client';
import type { Logger } from '../../lib/logger.js';
import { realTimers, type TimerHandle, type Timers } from '../../lib/timers.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../../lib/kube/client.js';
import { applyWatchChange, WatchLoop, type KubeObjectMeta } from '../../lib/kube/watch.js';
import type { StateLoader } from './route-file.js';
import { WEFT_CLASS } from '../routes/object-meta.js';
import { GATEWAY_ROUTE_KINDS } from '../../lib/kube/kinds.js';

/** One watched collection: where it lives and the apiVersion/kind its items are read as. */
export interface RouteResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly kind: string;
  /** Only objects with these labels (the Secrets that hold consumers' key hashes). */
  readonly labelSelector?: string;
}

// Services too (discovery's kind, already granted): route status tells a backendRef to a Service
// that does not exist (BackendNotFound), and named ports resolve. Only name and ports are kept.
const SERVICES: RouteResource = { group: '', version: 'v1', resource: 'services', kind: 'Service' };

/** Everything the gateway reads from the API server (the route kinds shared with `weft check`, and Services). */
export const ROUTE_RESOURCES: readonly RouteResource[] = [...GATEWAY_ROUTE_KINDS, SERVICES];

type Obj = KubeObjectMeta & Record<string, unknown>;

/** Options of the watch. */
export interface KubeRoutesOptions {
  readonly client: KubeClient;
  readonly loader: StateLoader;
  readonly logger: Logger;
  readonly restarts: Counter<'resource' | 'reason'>;
  /** Lists, by resource and reason (WatchLoop's relists counter). */
  readonly relists?: Counter<'resource' | 'reason'>;
  readonly debounceMs: number;
  /** Certificates can rotate without any route change: re-read referenced Secrets this often. */
  readonly secretRefreshMs?: number;
  /** Clock and timers of the debounce, the Secret refresh and the watch loops (fake in tests). */
  readonly timers?: Timers;
  readonly resources?: readonly RouteResource[];
}

/** Watches the cluster's route objects and feeds each settled snapshot to the loader. */
export class KubeRoutes {
  readonly #o: KubeRoutesOptions;
  readonly #loops: WatchLoop<Obj>[] = [];
  readonly #caches = new Map<RouteResource, ReadonlyMap<string, Obj>>();
  readonly #absent = new Set<RouteResource>();
  /** The last copy of each referenced Secret read, kept when a later read fails for another reason than 404. */
  readonly #secrets = new Map<string, Obj>();
  #timer: TimerHandle | undefined;
  #refresh: TimerHandle | undefined;
  #stopped = false;
  #building: Promise<void> = Promise.resolve();

  constructor(opts: KubeRoutesOptions) {
    this.#o = opts;
  }

  /** True once every collection has been listed (a kind the server does not serve counts, as empty). */
  get synced(): boolean {
    return this.#loops.length > 0 && this.#loops.every((l) => l.synced);
  }

  /** "resource.group" of each kind the API server does not serve now, sorted. */
  get absentKinds(): string[] {
    return [...this.#absent].map((r) => (r.group === '' ? r.resource : `${r.resource}.${r.group}`)).sort();
  }

  start(): void {
    for (const r of this.#o.resources ?? ROUTE_RESOURCES) {
      this.#caches.set(r, new Map());
      const loop = new WatchLoop<Obj>({
        client: this.#o.client,
        path: resourcePath({ group: r.group, version: r.version, resource: r.resource }),
        onChange: (change) => {
          this.#caches.set(r, applyWatchChange(this.#caches.get(r) ?? new Map(), change));
          this.#schedule();
        },
        onSyncedChange: () => this.#schedule(),
        // The loop logs the change once; the set answers `absentKinds`.
        onAbsentChange: (absent) => {
          if (absent) this.#absent.add(r);
          else this.#absent.delete(r);
        },
        restarts: this.#o.restarts,
        ...(this.#o.relists ? { relists: this.#o.relists } : {}),
        resourceLabel: r.resource,
        ...(r.labelSelector ? { labelSelector: r.labelSelector } : {}),
        logger: this.#o.logger,
        timers: this.#timers,
      });
      this.#loops.push(loop);
      loop.start();
    }
    this.#refreshLater();
  }

  get #timers(): Timers {
    return this.#o.timers ?? realTimers;
  }

  // Secrets are read by name, not watched: a rotated certificate is picked up at the next refresh.
  #refreshLater(): void {
    if (this.#stopped) return;
    this.#refresh = this.#timers.setTimeout(() => {
      this.#schedule();
      this.#refreshLater();
    }, this.#o.secretRefreshMs ?? 60_000);
    this.#refresh.unref();
  }

  // Many objects change together (an apply of a whole directory): rebuild once they settle,
  // and never from a partial view before every collection has been listed.
  #schedule(): void {
    this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => {
      if (!this.synced) return;
      this.#building = this.#building
        .then(() => this.#build())
        .catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'route rebuild failed; the running routes stay until the next change'));
    }, this.#o.debounceMs);
  }

  async #build(): Promise<void> {
    const secrets = await this.#referencedSecrets();
    this.#o.loader.loadCluster(this.snapshot(secrets), 'kubernetes');
  }

  // The Secrets named by HTTPS listeners' certificateRefs and Ingress tls entries, read by name.
  // A missing one is left out: the loader then reports the reference precisely and leaves out only
  // the listener or TLS entry that names it. One that cannot be read now keeps its last copy.
  async #referencedSecrets(): Promise<Obj[]> {
    const wanted = new Set<string>();
    for (const [r, cache] of this.#caches) {
      for (const o of cache.values()) {
        const ns = o.metadata?.namespace ?? 'default';
        const spec = (o.spec ?? {}) as {
          gatewayClassName?: unknown;
          ingressClassName?: unknown;
          listeners?: { tls?: { certificateRefs?: { name?: string; namespace?: string }[] } }[];
          tls?: { secretName?: string }[];
        };
        // Another class's objects are another controller's: their Secrets are none of weft's business.
        if (r.kind === 'Gateway' && spec.gatewayClassName !== WEFT_CLASS) continue;
        if (r.kind === 'Ingress' && spec.ingressClassName !== undefined && spec.ingressClassName !== WEFT_CLASS) continue;
        if (r.kind === 'Gateway') for (const l of spec.listeners ?? []) for (const c of l.tls?.certificateRefs ?? []) if (c.name) wanted.add(`${c.namespace ?? ns}/${c.name}`);
        if (r.kind === 'Ingress') for (const t of spec.tls ?? []) if (t.secretName) wanted.add(`${ns}/${t.secretName}`);
      }
    }
    const out: Obj[] = [];
    for (const key of [...wanted].sort()) {
      const [namespace = '', name = ''] = key.split('/');
      try {
        const secret = await this.#o.client.request<Obj>('GET', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace, name }));
        this.#secrets.set(key, secret);
        out.push(secret);
      } catch (err) {
        if (isKubeStatus(err, 404)) {
          this.#secrets.delete(key);
          continue;
        }
        // Any other failure (403, an outage) must not drop a certificate that was being served.
        const last = this.#secrets.get(key);
        this.#o.logger.warn({ secret: key, err: (err as Error).message }, last ? 'cannot read a TLS Secret; its last copy stays' : 'cannot read a TLS Secret; the listener naming it is not served');
        if (last) out.push(last);
      }
    }
    for (const key of [...this.#secrets.keys()]) if (!wanted.has(key)) this.#secrets.delete(key);
    return out;
  }

  /**
   * The cached objects (and `secrets`) in a stable order, as the reader takes them: list items
   * carry no kind, so it is set here; status and server bookkeeping are left out.
   */
  snapshot(secrets: readonly Obj[] = []): Record<string, unknown>[] {
    const docs: Record<string, unknown>[] = [];
    const secretResource: RouteResource = { group: '', version: 'v1', resource: 'secrets', kind: 'Secret' };
    // A referenced Secret that is watched too (labelled for consumer keys) is read once.
    const watched = new Set([...this.#caches].filter(([r]) => r.kind === 'Secret').flatMap(([, c]) => [...c.values()].map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`)));
    const fetched = secrets.filter((o) => !watched.has(`${o.metadata?.namespace}/${o.metadata?.name}`));
    const all: [RouteResource, ReadonlyMap<string, Obj>][] = [...this.#caches, [secretResource, new Map(fetched.map((o, i) => [String(i), o]))]];
    for (const [r, cache] of all) {
      const apiVersion = r.group === '' ? r.version : `${r.group}/${r.version}`;
      const sorted = [...cache.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [, o] of sorted) {
        if (r.kind === 'Service') {
          const ports = (o.spec as { ports?: unknown } | undefined)?.ports;
          docs.push({ apiVersion, kind: r.kind, metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace }, spec: { ports: ports ?? [] } });
          continue;
        }
        const { status: _status, ...rest } = o;
        const md = { ...(o.metadata as Record<string, unknown>) };
        delete md.managedFields;
        delete md.resourceVersion;
        docs.push({ ...rest, apiVersion, kind: r.kind, metadata: md });
      }
    }
    return docs;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timers.clearTimeout(this.#refresh);
    await Promise.all(this.#loops.map((l) => l.stop()));
  }
}
