// The immutable route table: compiled from parsed resources (attachment, hostname intersection,
// backend resolution, precedence order) and looked up once per request. Pure.
import type { ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import { routeRetryPolicy } from '../../mesh/traffic/route-retry.js';
import type { RetryPolicy } from '../../mesh/traffic/retry-policy.js';
import { hostSpecificity, ingressHostMatches, intersectHostnames, servedHostMatches, gatewayHostMatches } from './hostnames.js';
import { compareEntries, matches, type RouteRequest } from './route-order.js';
import type { ObjectCondition } from './conditions.js';
import { grpcRules } from './grpc-route.js';
import { settleKindConflicts, type AttachedRoute } from './route-conflicts.js';
import { DEFAULT_SCOPES, type Protocol, type SocketScope } from './listener-scope.js';
import {
  GATEWAY_API_GROUP,
  WEFT_CLASS,
  type BackendRefSpec,
  type FilterSpec,
  type GatewaySpec,
  type HttpRouteSpec,
  type ListenerSpec,
  type ObjectMeta,
  type ResourceSet,
  type RouteMatch,
} from './resources.js';

export type { Protocol } from './listener-scope.js';
export { compareEntries, matches } from './route-order.js';
export type { RouteRequest } from './route-order.js';

/** The listener a request entered through (for redirect ports, metrics and policy attachment). */
export interface ListenerRef {
  /** undefined for Ingress (served on every socket). */
  readonly gateway?: { readonly namespace: string; readonly name: string };
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

/** The route object and rule a request matched. */
export interface RouteRef {
  readonly kind: 'HTTPRoute' | 'GRPCRoute' | 'Ingress';
  readonly namespace: string;
  readonly name: string;
  readonly rule: number;
  /** "ns/name/rule" (or the rule's name): the metrics and log label. */
  readonly label: string;
}

/** A backend after resolution: a mesh service, or one the gateway answers 500 for. */
export type ResolvedBackend =
  // appProtocol: the port's, when the route file declares the Service (discovery's endpoints may say it too).
  | { readonly kind: 'service'; readonly ref: ServiceRef; readonly weight: number; readonly filters: readonly FilterSpec[]; readonly label: string; readonly appProtocol?: string }
  | { readonly kind: 'invalid'; readonly reason: string; readonly weight: number; readonly label: string };

/** A compiled rule: what happens to a request that matched it. */
export interface CompiledRule {
  readonly route: RouteRef;
  readonly filters: readonly FilterSpec[];
  readonly backends: readonly ResolvedBackend[];
  readonly requestTimeoutMs?: number;
  readonly backendTimeoutMs?: number;
  /** The rule's retry policy (HTTPRoute `retry`), run by the mesh's retry engine. */
  readonly retry?: RetryPolicy;
}

interface Entry {
  readonly host: string;
  readonly ingressHost: boolean;
  readonly match: RouteMatch;
  readonly rule: CompiledRule;
  readonly listener: ListenerRef;
  /** "namespace/name" of the listener's Gateway; undefined for Ingress. */
  readonly gatewayKey: string | undefined;
  readonly createdMs: number;
  readonly order: number;
}

/** Entries of one protocol by listener port, each list in precedence order. */
type PortEntries = ReadonlyMap<number, readonly Entry[]>;
const NO_ROUTE: RouteDecision = Object.freeze({ kind: 'no-route' });

/** The outcome of a lookup. */
export type RouteDecision =
  | { readonly kind: 'no-route' }
  | {
      readonly kind: 'matched';
      readonly rule: CompiledRule;
      readonly listener: ListenerRef;
      readonly match: RouteMatch;
    };

/** A certificate the HTTPS socket serves, chosen by SNI. */
export interface CertEntry {
  /** Hostname pattern, or '*' for a listener without hostname. */
  readonly pattern: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** PEM bundle client certificates must chain to (frontendValidation), if any. */
  readonly clientCaPem?: string;
  readonly label: string;
}

/** The compiled, immutable table. */
export class RouteTable {
  readonly #entries: ReadonlyMap<Protocol, PortEntries>;
  readonly #certs: readonly CertEntry[];
  /** Non-fatal findings (a route attached nowhere, an unresolved backend) for the log. */
  readonly warnings: readonly string[];

  constructor(entries: ReadonlyMap<Protocol, PortEntries>, certs: readonly CertEntry[], warnings: readonly string[]) {
    this.#entries = entries;
    this.#certs = certs;
    this.warnings = warnings;
  }

  /**
   * Finds the highest-precedence rule matching the request among the listeners of `scope` (by
   * default the shared socket of `protocol`): the listener port is the Host's when the socket
   * serves that port, else the socket's own.
   */
  lookup(protocol: Protocol, req: RouteRequest, scope: SocketScope = DEFAULT_SCOPES[protocol]): RouteDecision {
    const byPort = this.#entries.get(protocol);
    if (byPort === undefined) return NO_ROUTE;
    const port = this.listenerPort(protocol, req.port, scope);
    const claims = scope.shared && scope.claimed.size > 0 ? scope.claimed : undefined;
    if (claims?.has(String(port))) return NO_ROUTE;
    for (const e of byPort.get(port) ?? []) {
      if (scope.gateway !== undefined && e.gatewayKey !== scope.gateway) continue;
      if (claims !== undefined && e.gatewayKey !== undefined && claims.has(`${port} ${e.gatewayKey}`)) continue;
      const hostOk = e.ingressHost ? e.host === '*' || ingressHostMatches(e.host, req.host) : servedHostMatches(e.host, req.host);
      if (hostOk && matches(e.match, req)) return { kind: 'matched', rule: e.rule, listener: e.listener, match: e.match };
    }
    return NO_ROUTE;
  }

  /** The listener port a request on `scope` belongs to: the Host's port when a shared socket serves it, else the socket's. */
  listenerPort(protocol: Protocol, hostPort: number | undefined, scope: SocketScope): number {
    if (!scope.shared || hostPort === undefined || hostPort === scope.port) return scope.port;
    const served = this.#entries.get(protocol)?.has(hostPort) === true && !scope.claimed.has(String(hostPort));
    return served ? hostPort : scope.port;
  }

  /** True when some rule of this protocol serves the host at all (404 "no listener" vs. no rule). */
  servesHost(protocol: Protocol, host: string): boolean {
    for (const list of this.#entries.get(protocol)?.values() ?? []) {
      if (list.some((e) => (e.ingressHost ? e.host === '*' || ingressHostMatches(e.host, host) : servedHostMatches(e.host, host)))) return true;
    }
    return false;
  }

  /** The certificates of the HTTPS socket, most specific first. */
  get certificates(): readonly CertEntry[] {
    return this.#certs;
  }

  /** The certificate for an SNI name (exact, then the longest wildcard, then a catch-all). */
  certificateFor(serverName: string | undefined): CertEntry | undefined {
    const name = serverName?.toLowerCase();
    if (name !== undefined) {
      for (const c of this.#certs) if (c.pattern !== '*' && gatewayHostMatches(c.pattern, name)) return c;
    }
    return this.#certs.find((c) => c.pattern === '*');
  }

  /** Every mesh service the table can send to (backends and mirrors), deduplicated. */
  services(): ServiceRef[] {
    const out = new Map<string, ServiceRef>();
    for (const e of this.#allEntries()) {
      for (const b of e.rule.backends) if (b.kind === 'service') out.set(`${b.ref.namespace}/${b.ref.name}:${b.ref.port}`, b.ref);
      for (const f of e.rule.filters) {
        const ref = f.type === 'RequestMirror' ? mirrorTarget(f.backend) : undefined;
        if (ref) out.set(`${ref.namespace}/${ref.name}:${ref.port}`, ref);
      }
    }
    return [...out.values()];
  }

  /** Number of rules of a protocol, every listener port together (for logs). */
  size(protocol: Protocol): number {
    let n = 0;
    for (const list of this.#entries.get(protocol)?.values() ?? []) n += list.length;
    return n;
  }

  /** The listener ports that have rules, per protocol (for logs and the startup line). */
  ports(protocol: Protocol): number[] {
    return [...(this.#entries.get(protocol)?.keys() ?? [])].sort((a, b) => a - b);
  }

  *#allEntries(): Iterable<Entry> {
    for (const byPort of this.#entries.values()) for (const list of byPort.values()) yield* list;
  }
}

/** Says why a certificate (PEM cert, key, client CA) cannot be served, or undefined when it can. */
export type CertCheck = (pem: { readonly certPem: string; readonly keyPem: string; readonly clientCaPem?: string }) => string | undefined;

/**
 * Builds the table. `problems` refuse a route file; `conditions` say the same per object: a
 * listener whose certificate or client CA cannot be used is left out (routes do not attach to it)
 * and an Ingress TLS entry without its Secret is skipped, each a Degraded condition of its object,
 * while everything else is served. Warnings are logged.
 */
export function compileRouteTable(res: ResourceSet, checkCert?: CertCheck): { table: RouteTable; problems: string[]; conditions: ObjectCondition[] } {
  const problems: string[] = [];
  const degraded = new Map<ObjectMeta, { kind: string; reasons: string[] }>();
  const fault = (kind: string, meta: ObjectMeta, path: string, message: string): void => {
    problems.push(`${where(meta, path)}: ${message}`);
    degrade(kind, meta, path, message);
  };
  // Degraded but not a problem: served as far as it can be (a route that lost a listener to a conflict).
  const degrade = (kind: string, meta: ObjectMeta, path: string, message: string): void => {
    const d = degraded.get(meta);
    if (d) d.reasons.push(`${path}: ${message}`);
    else degraded.set(meta, { kind, reasons: [`${path}: ${message}`] });
  };
  const warnings: string[] = [];
  const entries = new Map<Protocol, Map<number, Entry[]>>([
    ['HTTP', new Map()],
    ['HTTPS', new Map()],
  ]);
  const push = (protocol: Protocol, port: number, e: Entry): void => {
    const byPort = entries.get(protocol);
    const list = byPort?.get(port);
    if (list) list.push(e);
    else byPort?.set(port, [e]);
  };
  const certs: CertEntry[] = [];
  let order = 0;
  const where = (meta: ObjectMeta, path: string): string => `${meta.place.file}: document ${meta.place.doc} (${meta.place.what}): ${path}`;
  // Another class's Gateways never get here (see foreign.ts); the filter keeps the table honest alone.
  const gateways = res.gateways.filter((g) => g.className === WEFT_CLASS);

  const grantAllows = (fromGroup: string, fromKind: string, fromNs: string, toGroup: string, toKind: string, toNs: string, toName: string): boolean =>
    fromNs === toNs ||
    res.grants.some(
      (gr) =>
        gr.meta.namespace === toNs &&
        gr.from.some((f) => f.group === fromGroup && f.kind === fromKind && f.namespace === fromNs) &&
        gr.to.some((t) => t.group === toGroup && t.kind === toKind && (t.name === undefined || t.name === toName)),
    );

  // Certificates of HTTPS listeners.
  const secretPem = (ns: string, name: string): { cert: string; key: string } | string => {
    const s = res.secrets.find((x) => x.meta.namespace === ns && x.meta.name === name);
    if (!s) return `Secret ${ns}/${name} does not exist (or is not in the route file)`;
    const cert = s.data['tls.crt'];
    const key = s.data['tls.key'];
    if (!cert?.includes('BEGIN CERTIFICATE') || !key?.includes('PRIVATE KEY')) return `Secret ${ns}/${name} needs PEM tls.crt and tls.key`;
    return { cert, key };
  };
  // A listener that cannot present its certificate (or check clients against its CA) is not served
  // at all: serving it with another certificate or without client checks would be worse.
  const unusable = new Set<ListenerSpec>();
  for (const g of gateways) {
    g.listeners.forEach((l, i) => {
      if (l.unsupported) warnings.push(`Gateway ${g.meta.namespace}/${g.meta.name}: listener ${JSON.stringify(l.name)}: protocol ${l.protocol} is not served (the Gateway's other listeners are)`);
      if (l.protocol !== 'HTTPS') return;
      const bad = (path: string, message: string): void => {
        unusable.add(l);
        fault('Gateway', g.meta, path, `${message}; listener ${JSON.stringify(l.name)} is not served`);
      };
      let clientCaPem: string | undefined;
      for (const [k, ca] of l.clientCaRefs.entries()) {
        const cm = res.configMaps.find((x) => x.meta.namespace === ca.namespace && x.meta.name === ca.name);
        const pemText = cm?.data['ca.crt'];
        if (!pemText?.includes('BEGIN CERTIFICATE')) bad(`spec.listeners[${i}].tls.frontendValidation.caCertificateRefs[${k}]`, `ConfigMap ${ca.namespace}/${ca.name} with a PEM ca.crt does not exist (or is not in the route file)`);
        else clientCaPem = (clientCaPem ?? '') + pemText;
      }
      let first: CertEntry | undefined;
      l.certificateRefs.forEach((c, j) => {
        const path = `spec.listeners[${i}].tls.certificateRefs[${j}]`;
        if (!grantAllows(GATEWAY_API_GROUP, 'Gateway', g.meta.namespace, '', 'Secret', c.namespace, c.name)) {
          return bad(path, `Secret ${c.namespace}/${c.name} is in another namespace and no ReferenceGrant allows it`);
        }
        const pem = secretPem(c.namespace, c.name);
        if (typeof pem === 'string') return bad(path, pem);
        const unusableCert = checkCert?.({ certPem: pem.cert, keyPem: pem.key, ...(clientCaPem ? { clientCaPem } : {}) });
        if (unusableCert !== undefined) return bad(path, `Secret ${c.namespace}/${c.name}: ${unusableCert}`);
        // Only the first certificate per listener is served (one key type per name is enough here).
        if (j === 0) first = { pattern: l.hostname ?? '*', certPem: pem.cert, keyPem: pem.key, ...(clientCaPem ? { clientCaPem } : {}), label: `${g.meta.namespace}/${g.meta.name}/${l.name}` };
      });
      if (first && !unusable.has(l)) certs.push(first);
    });
  }
  for (const ing of res.ingresses) {
    ing.tls.forEach((t, i) => {
      const path = `spec.tls[${i}].secretName`;
      const pem = secretPem(ing.meta.namespace, t.secretName);
      const problem = typeof pem === 'string' ? pem : checkCert?.({ certPem: pem.cert, keyPem: pem.key });
      if (problem !== undefined || typeof pem === 'string') return fault('Ingress', ing.meta, path, `${problem ?? ''}; this TLS entry is skipped`);
      for (const h of t.hosts.length > 0 ? t.hosts : ['*']) certs.push({ pattern: h, certPem: pem.cert, keyPem: pem.key, label: `ingress ${ing.meta.namespace}/${ing.meta.name}` });
    });
  }
  certs.sort((a, b) => {
    const [ah, al] = hostSpecificity(a.pattern);
    const [bh, bl] = hostSpecificity(b.pattern);
    return ah !== bh ? bh - ah : bl - al;
  });

  const resolve = (b: BackendRefSpec, fromKind: 'HTTPRoute' | 'GRPCRoute' | 'Ingress', fromNs: string): ResolvedBackend => {
    const label = `${b.namespace}/${b.name}${b.port ? `:${b.port}` : b.portName ? `:${b.portName}` : ''}`;
    if (b.group !== '' || b.kind !== 'Service') {
      return { kind: 'invalid', weight: b.weight, label, reason: `backend kind ${b.group || 'core'}/${b.kind} is not supported (only Service)` };
    }
    if (fromKind !== 'Ingress' && !grantAllows(GATEWAY_API_GROUP, fromKind, fromNs, '', 'Service', b.namespace, b.name)) {
      return { kind: 'invalid', weight: b.weight, label, reason: `Service ${b.namespace}/${b.name} is in another namespace and no ReferenceGrant allows it` };
    }
    let port = b.port;
    const svc = res.services.find((s) => s.meta.namespace === b.namespace && s.meta.name === b.name);
    if (port === undefined && b.portName !== undefined) {
      port = svc?.ports.find((p) => p.name === b.portName)?.port;
      if (port === undefined) return { kind: 'invalid', weight: b.weight, label, reason: `port ${JSON.stringify(b.portName)} of Service ${b.namespace}/${b.name} is unknown (declare the Service in the file)` };
    }
    if (port === undefined) return { kind: 'invalid', weight: b.weight, label, reason: 'no port' };
    const appProtocol = svc?.ports.find((p) => p.port === port)?.appProtocol;
    const ref = { namespace: b.namespace, name: b.name, port };
    return { kind: 'service', ref, weight: b.weight, filters: b.filters, label, ...(appProtocol === undefined ? {} : { appProtocol }) };
  };

  const nsLabels = (ns: string): Readonly<Record<string, string>> => res.namespaces.find((n) => n.name === ns)?.labels ?? {};
  const allows = (g: GatewaySpec, l: ListenerSpec, routeNs: string, kind: string): boolean => {
    if (!l.allowedKinds.includes(kind)) return false;
    if (l.allowedFrom === 'All') return true;
    if (l.allowedFrom === 'Same') return routeNs === g.meta.namespace;
    const labels = nsLabels(routeNs);
    return Object.entries(l.allowedSelector ?? {}).every(([k, v]) => labels[k] === v);
  };

  // Both route kinds compile alike; a GRPCRoute's matches stand for gRPC requests on /<service>/<method>.
  const allRoutes = [
    ...res.routes.map((route) => ({ kind: 'HTTPRoute' as const, route })),
    ...res.grpcRoutes.map((g) => ({ kind: 'GRPCRoute' as const, route: { meta: g.meta, parentRefs: g.parentRefs, hostnames: g.hostnames, rules: grpcRules(g) } })),
  ];
  const attachedRoutes: (AttachedRoute<ListenerRef> & { route: HttpRouteSpec })[] = [];
  for (const { kind, route } of allRoutes) {
    const attached: { listener: ListenerRef; hosts: string[] }[] = [];
    route.parentRefs.forEach((p, i) => {
      const g = gateways.find((x) => x.meta.namespace === p.namespace && x.meta.name === p.name);
      const label = `${kind} ${route.meta.namespace}/${route.meta.name} parentRefs[${i}]`;
      if (!g) return warnings.push(`${label}: Gateway ${p.namespace}/${p.name} (class ${WEFT_CLASS}) is not in the file; not attached`);
      const candidates = g.listeners.filter((l) => !unusable.has(l) && (p.sectionName === undefined || l.name === p.sectionName) && (p.port === undefined || l.port === p.port));
      if (candidates.length === 0) return warnings.push(`${label}: Gateway ${p.namespace}/${p.name} has no listener ${p.sectionName ?? ''}${p.port ? `:${p.port}` : ''}; not attached`);
      let any = false;
      for (const l of candidates) {
        if (l.unsupported || !allows(g, l, route.meta.namespace, kind)) continue;
        const hosts = intersectHostnames(l.hostname, route.hostnames);
        if (hosts.length === 0) continue;
        any = true;
        attached.push({ listener: { gateway: { namespace: g.meta.namespace, name: g.meta.name }, name: l.name, port: l.port, protocol: l.protocol }, hosts });
      }
      if (!any) warnings.push(`${label}: no listener of Gateway ${p.namespace}/${p.name} allows this route (allowedRoutes or hostnames do not intersect); not attached`);
    });
    attachedRoutes.push({ kind, namespace: route.meta.namespace, name: route.meta.name, createdMs: route.meta.createdMs, attached, route });
  }
  const sameListener = (a: ListenerRef, b: ListenerRef): boolean => a.name === b.name && a.port === b.port && a.gateway?.namespace === b.gateway?.namespace && a.gateway?.name === b.gateway?.name;
  const settled = settleKindConflicts(attachedRoutes, sameListener, (l) => `${l.gateway?.namespace ?? ''}/${l.gateway?.name ?? ''}/${l.name}`);
  for (const [r, reasons] of settled.lost) {
    for (const reason of reasons) {
      warnings.push(`${r.kind} ${r.namespace}/${r.name}: ${reason}`);
      degrade(r.kind, r.route.meta, 'spec.parentRefs', reason);
    }
  }
  for (const ar of attachedRoutes) {
    const { kind, route } = ar;
    const attached = settled.kept.get(ar) ?? [];
    route.rules.forEach((rule, ri) => {
      const ref: RouteRef = {
        kind,
        namespace: route.meta.namespace,
        name: route.meta.name,
        rule: ri,
        label: `${route.meta.namespace}/${route.meta.name}/${rule.name ?? ri}`,
      };
      const backends = rule.backendRefs.map((b) => resolve(b, kind, route.meta.namespace));
      for (const b of backends) if (b.kind === 'invalid') warnings.push(`${kind} ${ref.label}: backend ${b.label}: ${b.reason}; requests to it get 500`);
      const filters = rule.filters.map((f): FilterSpec => f);
      const compiled: CompiledRule = {
        route: ref,
        filters,
        backends,
        ...(rule.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: rule.requestTimeoutMs }),
        ...(rule.backendTimeoutMs === undefined ? {} : { backendTimeoutMs: rule.backendTimeoutMs }),
        ...(rule.retry === undefined ? {} : { retry: routeRetryPolicy(rule.retry) }),
      };
      for (const a of attached) {
        for (const host of a.hosts) {
          for (const match of rule.matches) {
            const gatewayKey = a.listener.gateway ? `${a.listener.gateway.namespace}/${a.listener.gateway.name}` : undefined;
            push(a.listener.protocol, a.listener.port, { host, ingressHost: false, match, rule: compiled, listener: a.listener, gatewayKey, createdMs: route.meta.createdMs, order: order++ });
          }
        }
      }
    });
  }

  for (const ing of res.ingresses) {
    const add = (host: string, match: RouteMatch, rule: CompiledRule): void => {
      for (const protocol of ['HTTP', 'HTTPS'] as const) {
        const listener: ListenerRef = { name: 'ingress', port: protocol === 'HTTP' ? 80 : 443, protocol };
        push(protocol, listener.port, { host, ingressHost: true, match, rule, listener, gatewayKey: undefined, createdMs: ing.meta.createdMs, order: order++ });
      }
    };
    const ruleFor = (index: number, b: BackendRefSpec): CompiledRule => {
      const backend = resolve(b, 'Ingress', ing.meta.namespace);
      if (backend.kind === 'invalid') warnings.push(`Ingress ${ing.meta.namespace}/${ing.meta.name}: backend ${backend.label}: ${backend.reason}; requests to it get 500`);
      return { route: { kind: 'Ingress', namespace: ing.meta.namespace, name: ing.meta.name, rule: index, label: `${ing.meta.namespace}/${ing.meta.name}/${index}` }, filters: [], backends: [backend] };
    };
    let index = 0;
    for (const rule of ing.rules) {
      for (const p of rule.paths) {
        // ImplementationSpecific is treated as Prefix (documented in docs/gateway.md).
        const match: RouteMatch = { path: { type: p.pathType === 'Exact' ? 'Exact' : 'PathPrefix', value: p.path }, headers: [], queryParams: [] };
        add(rule.host ?? '*', match, ruleFor(index++, p.backend));
      }
    }
    if (ing.defaultBackend) add('*', { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }, ruleFor(-1, ing.defaultBackend));
  }
  for (const byPort of entries.values()) for (const list of byPort.values()) list.sort(compareEntries);
  const conditions = [...degraded].map(([meta, d]): ObjectCondition => ({
    kind: d.kind,
    namespace: meta.namespace,
    name: meta.name,
    ...(meta.generation === undefined ? {} : { generation: meta.generation }),
    type: 'Degraded',
    reasons: d.reasons,
  }));
  return { table: new RouteTable(entries, certs, warnings), problems, conditions };
}

/** The service a RequestMirror sends to, or undefined when it is not a Service with a port. */
export function mirrorTarget(b: BackendRefSpec): ServiceRef | undefined {
  return b.group === '' && b.kind === 'Service' && b.port !== undefined ? { namespace: b.namespace, name: b.name, port: b.port } : undefined;
}

/** Picks a backend by weight; `random` returns [0, 1). Undefined when every weight is 0 or there is none. */
export function pickWeighted<T extends { readonly weight: number }>(backends: readonly T[], random: () => number): T | undefined {
  const total = backends.reduce((s, b) => s + b.weight, 0);
  if (total <= 0) return undefined;
  let x = random() * total;
  for (const b of backends) {
    if (x < b.weight) return b;
    x -= b.weight;
  }
  return backends.findLast((b) => b.weight > 0);
}
