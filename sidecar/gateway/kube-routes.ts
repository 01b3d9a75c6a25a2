// Kubernetes mode's route source: list-then-watch of every kind the route file can hold
// (Gateway API objects, Ingresses, TLS Secrets, ConfigMaps, Namespaces, Services and the
// weft.dev policy kinds) across namespaces; each settled change rebuilds the whole state off to
// the side through the same StateLoader as the file, so a bad object is refused the same way.
import type { Counter } from 'prom-client';
import type { Logger } from '../../lib/logger.js';
import { resourcePath, type KubeClient } from '../../lib/kube/client.js';
import { applyWatchChange, WatchLoop, type KubeObjectMeta } from '../../lib/kube/watch.js';
import type { StateLoader } from './route-file.js';

/** One watched collection: where it lives and the apiVersion/kind its items are read as. */
export interface RouteResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly kind: string;
  readonly fieldSelector?: string;
}

/** Everything the gateway reads from the API server. */
export const ROUTE_RESOURCES: readonly RouteResource[] = [
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gateways', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', kind: 'HTTPRoute' },
  { group: 'gateway.networking.k8s.io', version: 'v1beta1', resource: 'referencegrants', kind: 'ReferenceGrant' },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', kind: 'Ingress' },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', fieldSelector: 'type=kubernetes.io/tls' },
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace' },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'apikeypolicies', kind: 'ApiKeyPolicy' },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'jwtpolicies', kind: 'JwtPolicy' },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', kind: 'RateLimitPolicy' },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'corspolicies', kind: 'CorsPolicy' },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'ipaccesspolicies', kind: 'IpAccessPolicy' },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'bodylimitpolicies', kind: 'BodyLimitPolicy' },
];

type Obj = KubeObjectMeta & Record<string, unknown>;

/** Options of the watch. */
export interface KubeRoutesOptions {
  readonly client: KubeClient;
  readonly loader: StateLoader;
  readonly logger: Logger;
  readonly restarts: Counter<'resource' | 'reason'>;
  readonly debounceMs: number;
  readonly resources?: readonly RouteResource[];
}

/** Watches the cluster's route objects and feeds each settled snapshot to the loader. */
export class KubeRoutes {
  readonly #o: KubeRoutesOptions;
  readonly #loops: WatchLoop<Obj>[] = [];
  readonly #caches = new Map<RouteResource, ReadonlyMap<string, Obj>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: KubeRoutesOptions) {
    this.#o = opts;
  }

  /** True once every collection has been listed. */
  get synced(): boolean {
    return this.#loops.length > 0 && this.#loops.every((l) => l.synced);
  }

  start(): void {
    for (const r of this.#o.resources ?? ROUTE_RESOURCES) {
      this.#caches.set(r, new Map());
      const loop = new WatchLoop<Obj>({
        client: this.#o.client,
        path: resourcePath({ group: r.group, version: r.version, resource: r.resource }),
        ...(r.fieldSelector ? { fieldSelector: r.fieldSelector } : {}),
        onChange: (change) => {
          this.#caches.set(r, applyWatchChange(this.#caches.get(r) ?? new Map(), change));
          this.#schedule();
        },
        onSyncedChange: () => this.#schedule(),
        restarts: this.#o.restarts,
        resourceLabel: r.resource,
        logger: this.#o.logger,
      });
      this.#loops.push(loop);
      loop.start();
    }
  }

  // Many objects change together (an apply of a whole directory): rebuild once they settle,
  // and never from a partial view before every collection has been listed.
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!this.synced) return;
      const problems = this.#o.loader.load(this.snapshotText(), 'kubernetes');
      if (problems) {
        this.#o.logger.error({ code: 'WEFT_ERR_GATEWAY_FILE', problems }, `cluster route objects refused; the running routes stay:\n  - ${problems.join('\n  - ')}`);
      }
    }, this.#o.debounceMs);
  }

  /** The cached objects as one multi-document text (items of a list carry no kind: it is set here). */
  snapshotText(): string {
    const docs: string[] = [];
    for (const [r, cache] of this.#caches) {
      const apiVersion = r.group === '' ? r.version : `${r.group}/${r.version}`;
      const sorted = [...cache.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [, o] of sorted) {
        const { status: _status, ...rest } = o;
        const md = { ...(o.metadata as Record<string, unknown>) };
        delete md.managedFields;
        delete md.resourceVersion;
        docs.push(JSON.stringify({ ...rest, apiVersion, kind: r.kind, metadata: md }));
      }
    }
    return docs.join('\n---\n');
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await Promise.all(this.#loops.map((l) => l.stop()));
  }
}
