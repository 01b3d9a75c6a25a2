// Kubernetes mode's mesh routes (pure): which HTTPRoute/GRPCRoute objects are mesh routes, the
// trimmed form `weft destination` streams, which of them a caller sees (GAMMA producer and consumer
// routes), and their compilation for one caller, a bad route skipped without losing the others.
import { parseMeshRoutes, type MeshRouteTable, type MeshRule } from './mesh-routes.js';
import { CompiledRoutes } from './route-decision.js';

/** A route object as the API server stores it (only the fields read here are typed). */
export interface KubeRoute {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: { readonly parentRefs?: readonly KubeParentRef[]; readonly rules?: readonly unknown[] };
}

/** A parentRef of a route. */
export interface KubeParentRef {
  readonly group?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly port?: number;
}

/** A parentRef naming a Service (kind Service, group "" or "core"): what makes a route a mesh route. */
export function isServiceParent(p: KubeParentRef): boolean {
  return p.kind === 'Service' && (p.group === undefined || p.group === '' || p.group === 'core');
}

/**
 * The route as streamed: kind set (list items carry none), metadata cut to name, namespace and
 * annotations, parentRefs cut to the Service ones (group normalised to ""), rules as they are.
 * Undefined when no parentRef names a Service: a Gateway's route, not the mesh's.
 */
export function trimMeshRoute(route: KubeRoute, kind: 'HTTPRoute' | 'GRPCRoute'): KubeRoute | undefined {
  const parents = (route.spec?.parentRefs ?? []).filter(isServiceParent).map((p) => ({ ...p, group: '' }));
  if (parents.length === 0) return undefined;
  const meta = route.metadata ?? {};
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind,
    metadata: { name: meta.name ?? '', namespace: meta.namespace ?? '', ...(meta.annotations ? { annotations: meta.annotations } : {}) },
    spec: { parentRefs: parents, rules: route.spec?.rules ?? [] },
  };
}

/** The namespace of the Service a parentRef names (the route's own when unset). */
function parentNamespace(route: KubeRoute, p: KubeParentRef): string {
  return p.namespace ?? route.metadata?.namespace ?? '';
}

/**
 * The route as one caller sees it, or undefined: a producer parentRef (the Service in the route's
 * namespace) applies to every caller; a consumer parentRef (a Service elsewhere) only to callers in
 * the route's namespace.
 */
export function visibleTo(route: KubeRoute, callerNamespace: string): KubeRoute | undefined {
  const ns = route.metadata?.namespace ?? '';
  const parents = (route.spec?.parentRefs ?? []).filter((p) => parentNamespace(route, p) === ns || ns === callerNamespace);
  if (parents.length === 0) return undefined;
  return parents.length === route.spec?.parentRefs?.length ? route : { ...route, spec: { ...route.spec, parentRefs: parents } };
}

/** ns/name of a table key (ns/name or ns/name:port). */
function serviceOf(key: string): string {
  const colon = key.lastIndexOf(':');
  return colon < 0 ? key : key.slice(0, colon);
}

/**
 * Compiles the routes a caller sees. GAMMA precedence: when a caller's own namespace has routes for
 * a Service of another namespace (consumer routes), the producer's routes for it do not apply to
 * that caller. A route the parser refuses is reported to `onBad` and left out; the others apply.
 */
export function compileKubeRoutes(routes: readonly KubeRoute[], callerNamespace: string, onBad: (route: string, err: Error) => void): CompiledRoutes {
  const producer = new Map<string, MeshRule[]>();
  const consumer = new Map<string, MeshRule[]>();
  for (const raw of routes) {
    const route = visibleTo(raw, callerNamespace);
    if (!route) continue;
    const ns = route.metadata?.namespace ?? '';
    const kind = route.kind ?? 'HTTPRoute';
    const name = `${kind} ${ns}/${route.metadata?.name ?? ''}`;
    let table: MeshRouteTable;
    try {
      table = parseMeshRoutes(JSON.stringify(route.kind ? route : { ...route, kind }), name, ns);
    } catch (err) {
      onBad(name, err as Error);
      continue;
    }
    for (const [key, rules] of table) {
      const into = key.startsWith(`${ns}/`) ? producer : consumer;
      into.set(key, [...(into.get(key) ?? []), ...rules]);
    }
  }
  const overridden = new Set([...consumer.keys()].map(serviceOf));
  const merged = new Map<string, readonly MeshRule[]>(consumer);
  for (const [key, rules] of producer) if (!overridden.has(serviceOf(key))) merged.set(key, rules);
  return new CompiledRoutes(merged);
}
