// Parses a Gateway API v1 Gateway: its listeners, their TLS (certificates and the client CA of
// frontendValidation) and which routes each admits.
import type { FieldReader, Json } from './field-reader.js';
import { hostnameProblem } from './hostnames.js';
import { GATEWAY_API_GROUP, type ObjectMeta } from './object-meta.js';

/** One listener of a Gateway. */
export interface ListenerSpec {
  readonly name: string;
  readonly hostname?: string;
  readonly port: number;
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly certificateRefs: readonly { namespace: string; name: string }[];
  /** CA bundles (ConfigMap key ca.crt) that client certificates must chain to. */
  readonly clientCaRefs: readonly { namespace: string; name: string }[];
  readonly allowedFrom: 'Same' | 'All' | 'Selector';
  readonly allowedSelector?: Readonly<Record<string, string>>;
  readonly allowedKinds: readonly string[];
}

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
    const protocol = r.str(l, 'protocol', path, { required: true, oneOf: ['HTTP', 'HTTPS'] }) as 'HTTP' | 'HTTPS' | undefined;
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
    const ar = r.obj(l, 'allowedRoutes', path) ?? {};
    const ns = r.obj(ar, 'namespaces', `${path}.allowedRoutes`) ?? {};
    const from = (r.str(ns, 'from', `${path}.allowedRoutes.namespaces`, { oneOf: ['Same', 'All', 'Selector'] }) ?? 'Same') as 'Same' | 'All' | 'Selector';
    let allowedSelector: Record<string, string> | undefined;
    if (from === 'Selector') {
      const sel = r.obj(ns, 'selector', `${path}.allowedRoutes.namespaces`, true);
      const ml = sel ? r.obj(sel, 'matchLabels', `${path}.allowedRoutes.namespaces.selector`, true) : undefined;
      allowedSelector = {};
      for (const [k, v] of Object.entries(ml ?? {})) if (typeof v === 'string') allowedSelector[k] = v;
      if (sel && sel.matchExpressions !== undefined) r.problem(`${path}.allowedRoutes.namespaces.selector.matchExpressions`, 'is not supported; use matchLabels');
    }
    const kinds = r.objs(ar, 'kinds', `${path}.allowedRoutes`).map((k, j) => {
      const kind = r.str(k, 'kind', `${path}.allowedRoutes.kinds[${j}]`, { required: true }) ?? '';
      const group = r.str(k, 'group', `${path}.allowedRoutes.kinds[${j}]`) ?? GATEWAY_API_GROUP;
      if ((kind !== 'HTTPRoute' && kind !== 'GRPCRoute') || group !== GATEWAY_API_GROUP) r.problem(`${path}.allowedRoutes.kinds[${j}]`, `${group}/${kind} is not a route kind the gateway serves (HTTPRoute, GRPCRoute)`);
      return kind;
    });
    listeners.push({
      name,
      ...(hostname === undefined ? {} : { hostname }),
      port,
      protocol: protocol ?? 'HTTP',
      certificateRefs,
      clientCaRefs,
      allowedFrom: from,
      ...(allowedSelector ? { allowedSelector } : {}),
      allowedKinds: kinds.length > 0 ? kinds : ['HTTPRoute', 'GRPCRoute'],
    });
  });
  return { meta, className, listeners };
}
