// Parses a Gateway API v1 Gateway: its listeners, their TLS (certificates and the client CA of
// frontendValidation) and which routes each admits.
import type { FieldReader, Json } from './field-reader.js';
import { hostnameProblem } from './hostnames.js';
import { GATEWAY_API_GROUP, type ObjectMeta } from './object-meta.js';

/** What every listener has, served or not. */
interface ListenerBase {
  readonly name: string;
  readonly hostname?: string;
  readonly port: number;
  readonly certificateRefs: readonly { namespace: string; name: string }[];
  /** CA bundles (ConfigMap key ca.crt) that client certificates must chain to. */
  readonly clientCaRefs: readonly { namespace: string; name: string }[];
  readonly allowedFrom: 'Same' | 'All' | 'Selector';
  readonly allowedSelector?: Readonly<Record<string, string>>;
  /** The route kinds that may attach (HTTPRoute, GRPCRoute); none for an unsupported protocol. */
  readonly allowedKinds: readonly string[];
}

/** A listener the gateway serves. */
export interface ServedListenerSpec extends ListenerBase {
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly unsupported?: undefined;
}

/**
 * A listener of a protocol the gateway does not serve (TLS, TCP, UDP, a vendor's): the Gateway is
 * still accepted and its other listeners served, as the Gateway API asks; this one is kept only
 * for its status (Accepted=False, UnsupportedProtocol) and no route attaches to it.
 */
export interface UnsupportedListenerSpec extends ListenerBase {
  /** The protocol as written. */
  readonly protocol: string;
  readonly unsupported: true;
  /** The route kinds its allowedRoutes lists (none of them served here). */
  readonly listedKinds: readonly string[];
}

/** One listener of a Gateway. */
export type ListenerSpec = ServedListenerSpec | UnsupportedListenerSpec;

// Gateway API ProtocolType: a core name (TLS, TCP, UDP, ...) or a domain-prefixed vendor one.
const PROTOCOL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/;

/** A parsed Gateway. */
export interface GatewaySpec {
  readonly meta: ObjectMeta;
  readonly className: string;
  readonly listeners: readonly ListenerSpec[];
}

/** Reads a Gateway's spec. */
export function readGateway(r: FieldReader, meta: ObjectMeta, spec: Json): GatewaySpec {
  const className = r.str(spec, 'gatewayClassName', 'spec', { required: true }) ?? '';
  const listeners: ListenerSpec[] = [];
  const names = new Set<string>();
  r.objs(spec, 'listeners', 'spec', { required: true, max: 64 }).forEach((l, i) => {
    const path = `spec.listeners[${i}]`;
    r.known(l, path, ['name', 'hostname', 'port', 'protocol', 'tls', 'allowedRoutes']);
    const name = r.str(l, 'name', path, { required: true }) ?? '';
    if (names.has(name)) r.problem(`${path}.name`, `listener name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    const hostname = r.str(l, 'hostname', path);
    if (hostname !== undefined) {
      const p = hostnameProblem(hostname);
      if (p) r.problem(`${path}.hostname`, p);
    }
    const port = r.int(l, 'port', path, { required: true, min: 1, max: 65535 }) ?? 0;
    const written = r.str(l, 'protocol', path, { required: true });
    if (written !== undefined && !PROTOCOL.test(written)) r.problem(`${path}.protocol`, `${JSON.stringify(written)} is not a protocol name`);
    const protocol = written === 'HTTP' || written === 'HTTPS' ? written : undefined;
    if (written !== undefined && protocol === undefined) {
      listeners.push(unsupportedListener(r, l, path, name, hostname, port, written));
      return;
    }
    const tls = r.obj(l, 'tls', path);
    const certificateRefs: { namespace: string; name: string }[] = [];
    const clientCaRefs: { namespace: string; name: string }[] = [];
    if (protocol === 'HTTPS') {
      if (!tls) r.problem(`${path}.tls`, 'is required for an HTTPS listener');
      else {
        r.str(tls, 'mode', `${path}.tls`, { oneOf: ['Terminate'] });
        r.objs(tls, 'certificateRefs', `${path}.tls`, { required: true, max: 64 }).forEach((c, j) => {
          const cp = `${path}.tls.certificateRefs[${j}]`;
          const kind = r.str(c, 'kind', cp) ?? 'Secret';
          const group = r.str(c, 'group', cp) ?? '';
          if (kind !== 'Secret' || group !== '') r.problem(cp, `only core Secrets are supported as certificates, not ${group || 'core'}/${kind}`);
          const n = r.str(c, 'name', cp, { required: true });
          if (n) certificateRefs.push({ namespace: r.str(c, 'namespace', cp) ?? meta.namespace, name: n });
        });
        if (certificateRefs.length === 0 && tls.certificateRefs !== undefined) r.problem(`${path}.tls.certificateRefs`, 'needs at least one certificate');
        const fv = r.obj(tls, 'frontendValidation', `${path}.tls`);
        if (fv) {
          r.objs(fv, 'caCertificateRefs', `${path}.tls.frontendValidation`, { required: true }).forEach((c, j) => {
            const cp = `${path}.tls.frontendValidation.caCertificateRefs[${j}]`;
            const kind = r.str(c, 'kind', cp, { required: true });
            if (kind !== undefined && kind !== 'ConfigMap') r.problem(`${cp}.kind`, 'only ConfigMap (key ca.crt) is supported');
            const n = r.str(c, 'name', cp, { required: true });
            if (n) clientCaRefs.push({ namespace: r.str(c, 'namespace', cp) ?? meta.namespace, name: n });
          });
        }
      }
    } else if (tls) r.problem(`${path}.tls`, 'must not be set for an HTTP listener');
    const allowed = readAllowedRoutes(r, l, path);
    for (const [j, k] of allowed.kinds.entries()) {
      if ((k.kind !== 'HTTPRoute' && k.kind !== 'GRPCRoute') || k.group !== GATEWAY_API_GROUP) r.problem(`${path}.allowedRoutes.kinds[${j}]`, `${k.group}/${k.kind} is not a route kind the gateway serves (HTTPRoute, GRPCRoute)`);
    }
    listeners.push({
      name,
      ...(hostname === undefined ? {} : { hostname }),
      port,
      protocol: protocol ?? 'HTTP',
      certificateRefs,
      clientCaRefs,
      allowedFrom: allowed.from,
      ...(allowed.selector ? { allowedSelector: allowed.selector } : {}),
      allowedKinds: allowed.kinds.length > 0 ? allowed.kinds.map((k) => k.kind) : ['HTTPRoute', 'GRPCRoute'],
    });
  });
  return { meta, className, listeners };
}

/** A listener's allowedRoutes as written: which namespaces, and the kinds it lists. */
function readAllowedRoutes(r: FieldReader, l: Json, path: string): { from: 'Same' | 'All' | 'Selector'; selector?: Record<string, string>; kinds: { kind: string; group: string }[] } {
  const ar = r.obj(l, 'allowedRoutes', path) ?? {};
  const ns = r.obj(ar, 'namespaces', `${path}.allowedRoutes`) ?? {};
  const from = (r.str(ns, 'from', `${path}.allowedRoutes.namespaces`, { oneOf: ['Same', 'All', 'Selector'] }) ?? 'Same') as 'Same' | 'All' | 'Selector';
  let selector: Record<string, string> | undefined;
  if (from === 'Selector') {
    const sel = r.obj(ns, 'selector', `${path}.allowedRoutes.namespaces`, true);
    const ml = sel ? r.obj(sel, 'matchLabels', `${path}.allowedRoutes.namespaces.selector`, true) : undefined;
    selector = {};
    for (const [k, v] of Object.entries(ml ?? {})) if (typeof v === 'string') selector[k] = v;
    if (sel && sel.matchExpressions !== undefined) r.problem(`${path}.allowedRoutes.namespaces.selector.matchExpressions`, 'is not supported; use matchLabels');
  }
  const kinds = r.objs(ar, 'kinds', `${path}.allowedRoutes`).map((k, j) => ({
    kind: r.str(k, 'kind', `${path}.allowedRoutes.kinds[${j}]`, { required: true }) ?? '',
    group: r.str(k, 'group', `${path}.allowedRoutes.kinds[${j}]`) ?? GATEWAY_API_GROUP,
  }));
  return { from, ...(selector ? { selector } : {}), kinds };
}

// Its tls block is not read: what it may hold (Passthrough, other certificate kinds) is that
// protocol's business, and nothing here serves it.
function unsupportedListener(r: FieldReader, l: Json, path: string, name: string, hostname: string | undefined, port: number, protocol: string): UnsupportedListenerSpec {
  const allowed = readAllowedRoutes(r, l, path);
  return {
    name,
    ...(hostname === undefined ? {} : { hostname }),
    port,
    protocol,
    unsupported: true,
    certificateRefs: [],
    clientCaRefs: [],
    allowedFrom: allowed.from,
    ...(allowed.selector ? { allowedSelector: allowed.selector } : {}),
    listedKinds: allowed.kinds.map((k) => k.kind),
    allowedKinds: [],
  };
}
