// The Gateway API status of what the gateway read, as plain values: per Gateway (Accepted,
// Programmed, addresses, per listener Accepted/Programmed/ResolvedRefs/Conflicted and
// attachedRoutes) and per HTTPRoute and GRPCRoute parentRef (Accepted, ResolvedRefs) with the spec's reasons
// and observedGeneration. Pure: the Kubernetes writer and the local admin endpoint both show it.
import { intersectHostnames } from '../routes/hostnames.js';
import { objectLabel, type ObjectCondition } from '../routes/conditions.js';
import { GATEWAY_API_GROUP, WEFT_CLASS, type BackendRefSpec, type GatewaySpec, type HttpRouteSpec, type ListenerSpec, type ResourceSet } from '../routes/resources.js';

/** The controllerName weft writes in route status and GatewayClass spec. */
export const WEFT_CONTROLLER = 'weft.dev/gateway-controller';

/** One metav1.Condition. */
export interface StatusCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
}

/** The route kinds whose status weft writes. */
type RouteKind = 'HTTPRoute' | 'GRPCRoute';
/** What status reads of a route of either kind. */
type RouteLike = Pick<HttpRouteSpec, 'meta' | 'parentRefs' | 'hostnames'> & { readonly rules: readonly { readonly backendRefs: readonly BackendRefSpec[] }[] };

/** A listener's status (gateway.networking.k8s.io/v1 ListenerStatus). */
export interface ListenerStatus {
  readonly name: string;
  readonly supportedKinds: readonly { readonly group: string; readonly kind: string }[];
  readonly attachedRoutes: number;
  readonly conditions: readonly StatusCondition[];
}

/** One object's desired status, with what it is. */
export interface ObjectStatus {
  readonly kind: 'Gateway' | 'HTTPRoute' | 'GRPCRoute';
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly status: Readonly<Record<string, unknown>>;
}

/** A route's parentRef as written back in status (RouteParentStatus.parentRef). */
interface RawParentRef {
  readonly group?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

const cond = (type: string, ok: boolean, reason: string, message: string, generation: number | undefined): StatusCondition => ({
  type,
  status: ok ? 'True' : 'False',
  reason,
  message,
  ...(generation === undefined ? {} : { observedGeneration: generation }),
});

/** What statuses are computed from: the accepted objects, the findings, and the raw objects (for rejected routes' parentRefs). */
export interface StatusInput {
  readonly resources: ResourceSet;
  readonly conditions: readonly ObjectCondition[];
  /** Every object read, raw (a rejected route is not in `resources`). */
  readonly objects: readonly unknown[];
  /** The addresses the Gateways are reachable at (status.addresses). */
  readonly addresses: readonly string[];
  /**
   * Whether a Service exists that is not among the read Service objects (local mode: the endpoints
   * file names it; kubernetes mode: never, every Service is read). Absent: the gateway cannot
   * know which Services exist, so BackendNotFound is not reported.
   */
  readonly serviceElsewhere?: (namespace: string, name: string) => boolean;
}

/** What the route source hands over after each build: everything but the addresses. */
export type StatusSource = Omit<StatusInput, 'addresses'>;

/** The status of every weft-class Gateway and of every HTTPRoute and GRPCRoute naming one (or naming a Gateway that does not exist). */
export function computeStatuses(input: StatusInput): ObjectStatus[] {
  const { resources: res } = input;
  const byLabel = new Map(input.conditions.map((c) => [objectLabel(c), c]));
  const gateways = res.gateways.filter((g) => g.className === WEFT_CLASS);
  const attached = new Map<ListenerSpec, number>();
  const out: ObjectStatus[] = [];
  const nsLabels = (ns: string): Readonly<Record<string, string>> => res.namespaces.find((n) => n.name === ns)?.labels ?? {};
  const allows = (g: GatewaySpec, l: ListenerSpec, routeNs: string, kind: RouteKind): boolean => {
    if (!l.allowedKinds.includes(kind)) return false;
    if (l.allowedFrom === 'All') return true;
    if (l.allowedFrom === 'Same') return routeNs === g.meta.namespace;
    const labels = nsLabels(routeNs);
    return Object.entries(l.allowedSelector ?? {}).every(([k, v]) => labels[k] === v);
  };
  const degradedListener = (g: GatewaySpec, i: number): string | undefined =>
    byLabel.get(objectLabel({ kind: 'Gateway', namespace: g.meta.namespace, name: g.meta.name }))?.reasons.find((r) => r.startsWith(`spec.listeners[${i}]`));
  const granted = (kind: RouteKind, fromNs: string, toNs: string, toName: string): boolean =>
    fromNs === toNs ||
    res.grants.some(
      (gr) => gr.meta.namespace === toNs && gr.from.some((f) => f.group === GATEWAY_API_GROUP && f.kind === kind && f.namespace === fromNs) && gr.to.some((t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === toName)),
    );

  const elsewhere = input.serviceElsewhere;
  const exists = (ns: string, name: string): boolean => !elsewhere || res.services.some((s) => s.meta.namespace === ns && s.meta.name === name) || elsewhere(ns, name);

  // Accepted routes, per parentRef.
  const rejected = (kind: string, namespace: string, name: string): boolean => byLabel.get(objectLabel({ kind, namespace, name }))?.type === 'Rejected';
  const routes: [RouteKind, RouteLike][] = [...res.routes.map((r): [RouteKind, RouteLike] => ['HTTPRoute', r]), ...res.grpcRoutes.map((r): [RouteKind, RouteLike] => ['GRPCRoute', r])];
  for (const [kind, route] of routes) {
    // A rejected version whose previous one serves: that route's listener still counts it below,
    // but its status is the rejection (written from its condition).
    const skip = rejected(kind, route.meta.namespace, route.meta.name);
    const gen = route.meta.generation;
    const raw = rawParentRefs(input.objects, kind, route.meta.namespace, route.meta.name);
    const resolved = resolvedRefs(route, (fromNs, toNs, toName) => granted(kind, fromNs, toNs, toName), exists, gen);
    const parents = route.parentRefs.map((p, i) => {
      const g = gateways.find((x) => x.meta.namespace === p.namespace && x.meta.name === p.name);
      let accepted: StatusCondition;
      if (p.kind !== 'Gateway') accepted = cond('Accepted', false, 'NoMatchingParent', `parentRef kind ${p.kind} is not a Gateway weft serves`, gen);
      else if (!g) accepted = cond('Accepted', false, 'NoMatchingParent', `Gateway ${p.namespace}/${p.name} of class ${WEFT_CLASS} does not exist`, gen);
      else {
        const candidates = g.listeners.filter((l) => (p.sectionName === undefined || l.name === p.sectionName) && (p.port === undefined || l.port === p.port));
        const allowing = candidates.filter((l) => allows(g, l, route.meta.namespace, kind));
        const matching = allowing.filter((l) => intersectHostnames(l.hostname, route.hostnames).length > 0);
        for (const l of matching) attached.set(l, (attached.get(l) ?? 0) + 1);
        if (candidates.length === 0) accepted = cond('Accepted', false, 'NoMatchingParent', `Gateway ${p.namespace}/${p.name} has no listener ${p.sectionName ?? ''}${p.port ? `:${p.port}` : ''}`, gen);
        else if (allowing.length === 0) accepted = cond('Accepted', false, 'NotAllowedByListeners', "no listener's allowedRoutes admits this route", gen);
        else if (matching.length === 0) accepted = cond('Accepted', false, 'NoMatchingListenerHostname', "the route's hostnames match no listener's hostname", gen);
        else accepted = cond('Accepted', true, 'Accepted', 'the route is served', gen);
      }
      return { parentRef: raw[i] ?? { name: p.name }, controllerName: WEFT_CONTROLLER, conditions: [accepted, resolved] };
    });
    if (!skip) out.push({ kind, namespace: route.meta.namespace, name: route.meta.name, ...(gen === undefined ? {} : { generation: gen }), status: { parents } });
  }

  // Rejected routes: every parentRef is told why (UnsupportedValue), so a user sees the reason.
  for (const c of input.conditions) {
    if ((c.kind !== 'HTTPRoute' && c.kind !== 'GRPCRoute') || c.type !== 'Rejected') continue;
    const kind: RouteKind = c.kind;
    const gen = c.generation;
    const message = `${c.servingPrevious ? 'this version is rejected (the previous one keeps serving)' : 'rejected'}: ${c.reasons.join('; ')}`;
    const parents = rawParentRefs(input.objects, kind, c.namespace, c.name)
      .filter((p) => (p.kind ?? 'Gateway') === 'Gateway')
      .map((p) => ({ parentRef: p, controllerName: WEFT_CONTROLLER, conditions: [cond('Accepted', false, 'UnsupportedValue', message, gen), cond('ResolvedRefs', false, 'UnsupportedValue', message, gen)] }));
    out.push({ kind, namespace: c.namespace, name: c.name, ...(gen === undefined ? {} : { generation: gen }), status: { parents } });
  }

  for (const g of gateways) if (!rejected('Gateway', g.meta.namespace, g.meta.name)) out.push(gatewayStatus(g, attached, degradedListener, input.addresses));
  for (const c of input.conditions) {
    if (c.kind !== 'Gateway' || c.type !== 'Rejected' || !isWeftGateway(input.objects, c.namespace, c.name)) continue;
    const message = `rejected: ${c.reasons.join('; ')}`;
    const gen = c.generation;
    out.push({ kind: 'Gateway', namespace: c.namespace, name: c.name, ...(gen === undefined ? {} : { generation: gen }), status: { conditions: [cond('Accepted', false, 'Invalid', message, gen), cond('Programmed', false, 'Invalid', message, gen)] } });
  }
  return out;
}

function gatewayStatus(g: GatewaySpec, attached: ReadonlyMap<ListenerSpec, number>, degraded: (g: GatewaySpec, i: number) => string | undefined, addresses: readonly string[]): ObjectStatus {
  const gen = g.meta.generation;
  const listeners: ListenerStatus[] = g.listeners.map((l, i) => {
    const samePort = g.listeners.filter((o) => o !== l && o.port === l.port);
    const protocolConflict = samePort.some((o) => o.protocol !== l.protocol);
    const hostnameConflict = samePort.some((o) => o.protocol === l.protocol && (o.hostname ?? '') === (l.hostname ?? ''));
    const conflicted = cond('Conflicted', protocolConflict || hostnameConflict, protocolConflict ? 'ProtocolConflict' : hostnameConflict ? 'HostnameConflict' : 'NoConflicts', protocolConflict ? 'another listener on this port has another protocol' : hostnameConflict ? 'another listener on this port has the same hostname' : 'no conflicts', gen);
    if (l.unsupported) {
      // The spec's answer to a protocol an implementation does not serve: this listener alone is
      // not accepted, lists no kinds, and no route attaches to it.
      const message = `protocol ${l.protocol} is not served by weft (only HTTP and HTTPS)`;
      const kinds = l.listedKinds.length > 0;
      const conditions: StatusCondition[] = [
        cond('Accepted', false, 'UnsupportedProtocol', message, gen),
        conflicted,
        kinds ? cond('ResolvedRefs', false, 'InvalidRouteKinds', `no route kind it lists (${l.listedKinds.join(', ')}) is served on a ${l.protocol} listener`, gen) : cond('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved', gen),
        cond('Programmed', false, 'Invalid', message, gen),
      ];
      return { name: l.name, supportedKinds: [], attachedRoutes: 0, conditions };
    }
    const bad = degraded(g, i);
    const conditions: StatusCondition[] = [
      cond('Accepted', true, 'Accepted', 'the listener is accepted', gen),
      conflicted,
      bad ? cond('ResolvedRefs', false, 'InvalidCertificateRef', bad, gen) : cond('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved', gen),
      bad ? cond('Programmed', false, 'Invalid', 'the listener is not served', gen) : cond('Programmed', true, 'Programmed', 'the listener is served', gen),
    ];
    return { name: l.name, supportedKinds: l.allowedKinds.map((kind) => ({ group: GATEWAY_API_GROUP, kind })), attachedRoutes: attached.get(l) ?? 0, conditions };
  });
  const unsupported = g.listeners.filter((l) => l.unsupported).map((l) => JSON.stringify(l.name));
  const served = listeners.some((l) => l.conditions.some((c) => c.type === 'Programmed' && c.status === 'True'));
  const status = {
    addresses: addresses.map((value) => ({ type: /^[\d.]+$|:/.test(value) ? 'IPAddress' : 'Hostname', value })),
    conditions: [
      // Accepted with ListenersNotValid (the spec allows it True): the Gateway stands, its other listeners serve.
      unsupported.length === 0 ? cond('Accepted', true, 'Accepted', 'the Gateway is accepted', gen) : cond('Accepted', true, 'ListenersNotValid', `listener ${unsupported.join(', ')} has a protocol weft does not serve; the other listeners are served`, gen),
      served ? cond('Programmed', true, 'Programmed', 'the Gateway is served', gen) : cond('Programmed', false, 'Invalid', 'no listener of the Gateway is served', gen),
    ],
    listeners,
  };
  return { kind: 'Gateway', namespace: g.meta.namespace, name: g.meta.name, ...(gen === undefined ? {} : { generation: gen }), status };
}

// ResolvedRefs of a route: every backendRef a Service (InvalidKind), in reach (RefNotPermitted),
// existing (BackendNotFound; the rest of the route still serves, that backend's share gets 500).
function resolvedRefs(route: RouteLike, granted: (fromNs: string, toNs: string, toName: string) => boolean, exists: (ns: string, name: string) => boolean, gen: number | undefined): StatusCondition {
  for (const rule of route.rules) {
    for (const b of rule.backendRefs) {
      if (b.group !== '' || b.kind !== 'Service') return cond('ResolvedRefs', false, 'InvalidKind', `backend kind ${b.group || 'core'}/${b.kind} is not supported (only Service)`, gen);
      if (!granted(route.meta.namespace, b.namespace, b.name)) return cond('ResolvedRefs', false, 'RefNotPermitted', `Service ${b.namespace}/${b.name} is in another namespace and no ReferenceGrant allows it`, gen);
      if (!exists(b.namespace, b.name)) return cond('ResolvedRefs', false, 'BackendNotFound', `Service ${b.namespace}/${b.name} does not exist`, gen);
    }
  }
  return cond('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved', gen);
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function findRaw(objects: readonly unknown[], kind: string, namespace: string, name: string): Obj | undefined {
  for (const v of objects) {
    const o = asObj(v);
    const md = asObj(o.metadata);
    if (o.kind === kind && md.name === name && (typeof md.namespace === 'string' ? md.namespace : 'default') === namespace) return o;
  }
  return undefined;
}

// The parentRefs as the user wrote them (status echoes them), defaults filled as the API server would.
function rawParentRefs(objects: readonly unknown[], kind: string, namespace: string, name: string): RawParentRef[] {
  const refs = asObj(findRaw(objects, kind, namespace, name)?.spec).parentRefs;
  if (!Array.isArray(refs)) return [];
  return refs.map((r) => {
    const p = asObj(r);
    return {
      group: typeof p.group === 'string' ? p.group : GATEWAY_API_GROUP,
      kind: typeof p.kind === 'string' ? p.kind : 'Gateway',
      namespace: typeof p.namespace === 'string' ? p.namespace : namespace,
      name: typeof p.name === 'string' ? p.name : '',
      ...(typeof p.sectionName === 'string' ? { sectionName: p.sectionName } : {}),
      ...(typeof p.port === 'number' ? { port: p.port } : {}),
    };
  });
}

function isWeftGateway(objects: readonly unknown[], namespace: string, name: string): boolean {
  return asObj(findRaw(objects, 'Gateway', namespace, name)?.spec).gatewayClassName === WEFT_CLASS;
}
