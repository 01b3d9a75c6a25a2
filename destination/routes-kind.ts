// The `routes` watch kind of `weft destination`: two cluster-wide list-and-watch loops (HTTPRoutes
// and GRPCRoutes of gateway.networking.k8s.io/v1; a CRD the cluster lacks is empty) kept to the
// mesh routes (a Service parentRef), streamed to each proxy as the whole list it sees, again on
// every change (GAMMA: producer routes to everyone, consumer routes to their own namespace).
import type { Counter } from 'prom-client';
import { WatchLoop, applyWatchChange, type WatchChange } from '../lib/kube/watch.js';
import { resourcePath, type KubeClient } from '../lib/kube/client.js';
import type { Logger } from '../lib/logger.js';
import type { Timers } from '../lib/timers.js';
import type { BackoffPolicy } from '../lib/backoff.js';
import { trimMeshRoute, visibleTo, type KubeRoute } from '../mesh/routes/kube-mesh-routes.js';
import type { Caller, WatchKind } from './watch-kinds.js';

/** What the routes kind needs. */
export interface RoutesKindOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly restarts: Counter<'resource' | 'reason'>;
  readonly relists: Counter<'resource' | 'reason'>;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
}

/** The routes kind with the loops that feed it. */
export interface RoutesKind extends WatchKind<string> {
  start(): void;
  stop(): Promise<void>;
}

/** The wire value: `{"routes":[...]}`, the trimmed routes the caller sees. */
export function routesToWire(all: Iterable<KubeRoute>, callerNamespace: string): { routes: KubeRoute[] } {
  const routes: KubeRoute[] = [];
  for (const r of all) {
    const seen = visibleTo(r, callerNamespace);
    if (seen) routes.push(seen);
  }
  return { routes };
}

/** `routes` (no query): the mesh routes the caller's namespace sees. Any meshed caller may ask. */
export function routesKind(o: RoutesKindOptions): RoutesKind {
  // Per resource: namespace/name -> trimmed mesh route.
  const held = { HTTPRoute: new Map<string, KubeRoute>(), GRPCRoute: new Map<string, KubeRoute>() };
  const subscribers = new Map<string, { last: string; sends: Set<(v: unknown) => void> }>();
  // Nothing is sent before both kinds were listed once: a proxy must not take "no routes yet" for
  // "no routes" (a re-list later keeps serving the routes held).
  const listed = new Set<string>();
  const wire = (ns: string): { routes: KubeRoute[] } => routesToWire([...held.HTTPRoute.values(), ...held.GRPCRoute.values()], ns);
  const publish = (): void => {
    if (listed.size < 2) return;
    for (const [ns, entry] of subscribers) {
      const value = wire(ns);
      const text = JSON.stringify(value);
      if (text === entry.last) continue;
      entry.last = text;
      for (const send of entry.sends) send(value);
    }
  };
  const apply = (kind: 'HTTPRoute' | 'GRPCRoute', change: WatchChange<KubeRoute>): void => {
    const trim = (r: KubeRoute): KubeRoute | undefined => trimMeshRoute(r, kind);
    let next: Map<string, KubeRoute>;
    if (change.kind === 'replace') next = applyWatchChange(new Map<string, KubeRoute>(), { kind: 'replace', objects: change.objects.map(trim).filter((r): r is KubeRoute => r !== undefined) });
    else {
      const t = trim(change.object);
      // An upsert that dropped its Service parentRefs leaves the mesh: a delete here.
      next = applyWatchChange(held[kind], change.kind === 'upsert' && t ? { kind: 'upsert', object: t } : { kind: 'delete', object: change.object });
    }
    held[kind].clear();
    for (const [k, v] of next) held[kind].set(k, v);
    publish();
  };
  const sources = [
    { kind: 'HTTPRoute', resource: 'httproutes', path: resourcePath({ group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes' }) },
    { kind: 'GRPCRoute', resource: 'grpcroutes', path: resourcePath({ group: 'gateway.networking.k8s.io', version: 'v1', resource: 'grpcroutes' }) },
  ] as const;
  const loops = sources.map(
    ({ kind, resource, path }) =>
      new WatchLoop<KubeRoute>({
        client: o.client,
        path,
        resourceLabel: resource,
        restarts: o.restarts,
        relists: o.relists,
        logger: o.log,
        onChange: (c) => apply(kind, c),
        onSyncedChange: (synced) => {
          if (!synced || listed.has(kind)) return;
          listed.add(kind);
          publish();
        },
        ...(o.timers ? { timers: o.timers } : {}),
        ...(o.backoff ? { backoff: o.backoff } : {}),
      }),
  );
  return {
    name: 'routes',
    parse(_query: URLSearchParams, caller: Caller) {
      return caller.namespace;
    },
    subscribe(ns, send) {
      let entry = subscribers.get(ns);
      if (!entry) {
        entry = { last: '', sends: new Set() };
        subscribers.set(ns, entry);
      }
      entry.sends.add(send);
      if (listed.size === 2) {
        const value = wire(ns);
        entry.last = JSON.stringify(value);
        send(value);
      }
      const mine = entry;
      return () => {
        mine.sends.delete(send);
        if (mine.sends.size === 0 && subscribers.get(ns) === mine) subscribers.delete(ns);
      };
    },
    start() {
      for (const l of loops) l.start();
    },
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
