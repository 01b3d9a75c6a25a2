// Parses the declarative route file (multi-document YAML of Gateway API v1 Gateway/HTTPRoute,
// ReferenceGrant, Ingress v1, Secret, ConfigMap, Namespace, Service and weft policy kinds) into
// typed, validated resources. Every problem is reported with file, document and field path.
import { parseAllDocuments } from 'yaml';
import { FieldReader, ProblemList, type DocPlace, type Json } from './field-reader.js';
import { hostnameProblem } from './hostnames.js';
import { parseDuration, pathProblem } from './paths.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The gatewayClassName and ingressClassName weft serves. */
export const WEFT_CLASS = 'weft';

/** Identity of a namespaced object. */
export interface ObjectMeta {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** ms since epoch; absent timestamps sort as the file order (documents get increasing times). */
  readonly createdMs: number;
  readonly place: DocPlace;
}

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

export interface GatewaySpec {
  readonly meta: ObjectMeta;
  readonly className: string;
  readonly listeners: readonly ListenerSpec[];
}

export interface ParentRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

export type StringMatchType = 'Exact' | 'RegularExpression';

export interface HeaderMatch {
  readonly type: StringMatchType;
  /** Lowercased for headers; as written for query parameters (they are case-sensitive). */
  readonly name: string;
  readonly value: string;
  readonly regex?: RegExp;
}

export interface PathMatch {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly value: string;
  readonly regex?: RegExp;
}

export interface RouteMatch {
  readonly path: PathMatch;
  readonly headers: readonly HeaderMatch[];
  readonly queryParams: readonly HeaderMatch[];
  readonly method?: string;
}

export interface HeaderModifier {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export type PathModifier = { readonly type: 'ReplaceFullPath'; readonly value: string } | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

/** A backend as written: resolved to a service or marked invalid when compiled. */
export interface BackendRefSpec {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly port?: number;
  readonly portName?: string;
  readonly weight: number;
  readonly filters: readonly FilterSpec[];
}

export type FilterSpec =
  | { readonly type: 'RequestHeaderModifier'; readonly modifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly modifier: HeaderModifier }
  | {
      readonly type: 'RequestRedirect';
      readonly scheme?: 'http' | 'https';
      readonly hostname?: string;
      readonly port?: number;
      readonly path?: PathModifier;
      readonly statusCode: number;
    }
  | { readonly type: 'URLRewrite'; readonly hostname?: string; readonly path?: PathModifier }
  | { readonly type: 'RequestMirror'; readonly backend: BackendRefSpec; readonly percent: number };

export interface RuleSpec {
  readonly name?: string;
  readonly matches: readonly RouteMatch[];
  readonly filters: readonly FilterSpec[];
  readonly backendRefs: readonly BackendRefSpec[];
  readonly requestTimeoutMs?: number;
  readonly backendTimeoutMs?: number;
}

export interface HttpRouteSpec {
  readonly meta: ObjectMeta;
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly RuleSpec[];
}

export interface IngressPath {
  readonly path: string;
  readonly pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific';
  readonly backend: BackendRefSpec;
}

export interface IngressSpec {
  readonly meta: ObjectMeta;
  readonly defaultBackend?: BackendRefSpec;
  readonly rules: readonly { readonly host?: string; readonly paths: readonly IngressPath[] }[];
  readonly tls: readonly { readonly hosts: readonly string[]; readonly secretName: string }[];
}

export interface ReferenceGrantSpec {
  readonly meta: ObjectMeta;
  readonly from: readonly { group: string; kind: string; namespace: string }[];
  readonly to: readonly { group: string; kind: string; name?: string }[];
}

export interface SecretSpec {
  readonly meta: ObjectMeta;
  readonly data: Readonly<Record<string, string>>;
}

export interface ServiceSpec {
  readonly meta: ObjectMeta;
  readonly ports: readonly { name?: string; port: number }[];
}

/** A weft.dev/v1alpha1 document, handed to the policy parser as is. */
export interface PolicyDoc {
  readonly kind: string;
  readonly meta: ObjectMeta;
  readonly spec: Json;
  readonly reader: FieldReader;
}

/** Everything a route file declares. */
export interface ResourceSet {
  readonly gateways: readonly GatewaySpec[];
  readonly routes: readonly HttpRouteSpec[];
  readonly ingresses: readonly IngressSpec[];
  readonly grants: readonly ReferenceGrantSpec[];
  readonly secrets: readonly SecretSpec[];
  readonly configMaps: readonly SecretSpec[];
  readonly namespaces: readonly { name: string; labels: Readonly<Record<string, string>> }[];
  readonly services: readonly ServiceSpec[];
  readonly policies: readonly PolicyDoc[];
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

/**
 * Parses a multi-document YAML route file. Returns the resources and every problem found;
 * callers refuse the file when there is any problem.
 */
export function parseResources(text: string, file: string, defaultNamespace = 'default'): { resources: ResourceSet; problems: readonly string[] } {
  const problems = new ProblemList();
  const out = {
    gateways: [] as GatewaySpec[],
    routes: [] as HttpRouteSpec[],
    ingresses: [] as IngressSpec[],
    grants: [] as ReferenceGrantSpec[],
    secrets: [] as SecretSpec[],
    configMaps: [] as SecretSpec[],
    namespaces: [] as { name: string; labels: Record<string, string> }[],
    services: [] as ServiceSpec[],
    policies: [] as PolicyDoc[],
  };
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const seen = new Map<string, number>();
  list.forEach((d, i) => {
    const docNo = i + 1;
    const basic: DocPlace = { file, doc: docNo, what: 'document' };
    if (d.errors.length > 0) {
      for (const e of d.errors) problems.add(basic, '(yaml)', e.message.split('\n')[0] ?? e.message);
      return;
    }
    const value: unknown = d.toJS();
    if (value === null || value === undefined) return; // an empty document between separators
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.add(basic, '(root)', 'a document must be a Kubernetes object');
      return;
    }
    const obj = value as Json;
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
    const md = (obj.metadata && typeof obj.metadata === 'object' ? obj.metadata : {}) as Json;
    const name = typeof md.name === 'string' ? md.name : '';
    const namespace = typeof md.namespace === 'string' ? md.namespace : defaultNamespace;
    const place: DocPlace = { file, doc: docNo, what: `${kind || '?'} ${namespace}/${name || '?'}` };
    const r = new FieldReader(problems, place);
    if (!kind) return r.problem('kind', 'is required');
    if (!apiVersion) return r.problem('apiVersion', 'is required');
    if (!name) return r.problem('metadata.name', 'is required');
    if (!NAME.test(name)) r.problem('metadata.name', `${JSON.stringify(name)} is not a DNS-1123 subdomain`);
    const key = `${apiVersion.split('/')[0]}/${kind}/${namespace}/${name}`;
    const dup = seen.get(key);
    if (dup !== undefined) r.problem('metadata.name', `duplicates document ${dup}`);
    seen.set(key, docNo);
    const meta = readMeta(r, md, namespace, name, place, docNo);
    const spec = r.obj(obj, 'spec', '') ?? {};
    const want = (version: string): boolean => {
      if (apiVersion === version) return true;
      r.problem('apiVersion', `${JSON.stringify(apiVersion)} is not supported for ${kind}; use ${version}`);
      return false;
    };
    switch (kind) {
      case 'Gateway':
        if (want(`${GATEWAY_API_GROUP}/v1`)) out.gateways.push(readGateway(r, meta, spec));
        return;
      case 'HTTPRoute':
        if (want(`${GATEWAY_API_GROUP}/v1`)) out.routes.push(readHttpRoute(r, meta, spec));
        return;
      case 'GatewayClass':
        want(`${GATEWAY_API_GROUP}/v1`);
        return;
      case 'ReferenceGrant':
        if (apiVersion !== `${GATEWAY_API_GROUP}/v1beta1` && apiVersion !== `${GATEWAY_API_GROUP}/v1`) {
          r.problem('apiVersion', `${JSON.stringify(apiVersion)} is not supported for ReferenceGrant; use ${GATEWAY_API_GROUP}/v1beta1`);
          return;
        }
        out.grants.push(readGrant(r, meta, spec));
        return;
      case 'Ingress':
        if (want('networking.k8s.io/v1')) {
          const ing = readIngress(r, meta, spec);
          if (ing) out.ingresses.push(ing);
        }
        return;
      case 'Secret':
      case 'ConfigMap':
        if (want('v1')) (kind === 'Secret' ? out.secrets : out.configMaps).push({ meta, data: readData(r, obj, kind) });
        return;
      case 'Namespace':
        if (want('v1')) out.namespaces.push({ name, labels: meta.labels });
        return;
      case 'Service':
        if (want('v1')) out.services.push(readService(r, meta, spec));
        return;
      default:
        if (apiVersion.startsWith('weft.dev/')) {
          if (want('weft.dev/v1alpha1')) out.policies.push({ kind, meta, spec, reader: r });
          return;
        }
        r.problem('kind', `${apiVersion} ${kind} is not a kind the gateway reads (Gateway, HTTPRoute, ReferenceGrant, Ingress, Secret, ConfigMap, Namespace, Service, weft.dev policies)`);
    }
  });
  return { resources: out, problems: problems.items };
}

function readMeta(r: FieldReader, md: Json, namespace: string, name: string, place: DocPlace, docNo: number): ObjectMeta {
  const labels: Record<string, string> = {};
  const l = r.obj(md, 'labels', 'metadata');
  if (l) for (const [k, v] of Object.entries(l)) if (typeof v === 'string') labels[k] = v;
  // Without a timestamp, file order stands in for age: document 1 is the oldest.
  let createdMs = docNo;
  const ts = md.creationTimestamp;
  if (ts !== undefined) {
    const ms = ts instanceof Date ? ts.getTime() : typeof ts === 'string' ? Date.parse(ts) : NaN;
    if (Number.isNaN(ms)) r.problem('metadata.creationTimestamp', 'is not an RFC 3339 time');
    else createdMs = ms;
  }
  return { namespace, name, labels, createdMs, place };
}

function readData(r: FieldReader, obj: Json, kind: string): Record<string, string> {
  const data: Record<string, string> = {};
  const raw = r.obj(obj, 'data', '');
  if (raw) {
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') r.problem(`data.${k}`, 'must be a string');
      else data[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    }
  }
  const str = r.obj(obj, 'stringData', '');
  if (str) for (const [k, v] of Object.entries(str)) if (typeof v === 'string') data[k] = v;
  return data;
}

function readService(r: FieldReader, meta: ObjectMeta, spec: Json): ServiceSpec {
  const ports = r.objs(spec, 'ports', 'spec').flatMap((p, i) => {
    const port = r.int(p, 'port', `spec.ports[${i}]`, { required: true, min: 1, max: 65535 });
    const name = r.str(p, 'name', `spec.ports[${i}]`);
    return port === undefined ? [] : [{ port, ...(name === undefined ? {} : { name }) }];
  });
  return { meta, ports };
}

function readGateway(r: FieldReader, meta: ObjectMeta, spec: Json): GatewaySpec {
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
      if (kind !== 'HTTPRoute' || group !== GATEWAY_API_GROUP) r.problem(`${path}.allowedRoutes.kinds[${j}]`, `${group}/${kind} is not a route kind the gateway serves (HTTPRoute)`);
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
      allowedKinds: kinds.length > 0 ? kinds : ['HTTPRoute'],
    });
  });
  return { meta, className, listeners };
}

function readGrant(r: FieldReader, meta: ObjectMeta, spec: Json): ReferenceGrantSpec {
  const from = r.objs(spec, 'from', 'spec', { required: true }).map((f, i) => ({
    group: r.str(f, 'group', `spec.from[${i}]`, { required: true }) ?? '',
    kind: r.str(f, 'kind', `spec.from[${i}]`, { required: true }) ?? '',
    namespace: r.str(f, 'namespace', `spec.from[${i}]`, { required: true }) ?? '',
  }));
  const to = r.objs(spec, 'to', 'spec', { required: true }).map((t, i) => {
    const name = r.str(t, 'name', `spec.to[${i}]`);
    return { group: r.str(t, 'group', `spec.to[${i}]`) ?? '', kind: r.str(t, 'kind', `spec.to[${i}]`, { required: true }) ?? '', ...(name ? { name } : {}) };
  });
  return { meta, from, to };
}

function readHttpRoute(r: FieldReader, meta: ObjectMeta, spec: Json): HttpRouteSpec {
  r.known(spec, 'spec', ['parentRefs', 'hostnames', 'rules']);
  const parentRefs = r.objs(spec, 'parentRefs', 'spec', { max: 32 }).map((p, i): ParentRef => {
    const path = `spec.parentRefs[${i}]`;
    const group = r.str(p, 'group', path) ?? GATEWAY_API_GROUP;
    const kind = r.str(p, 'kind', path) ?? 'Gateway';
    if (group !== GATEWAY_API_GROUP || kind !== 'Gateway') r.problem(path, `parent ${group}/${kind} is not supported; only Gateways`);
    const sectionName = r.str(p, 'sectionName', path);
    const port = r.int(p, 'port', path, { min: 1, max: 65535 });
    return {
      kind,
      namespace: r.str(p, 'namespace', path) ?? meta.namespace,
      name: r.str(p, 'name', path, { required: true }) ?? '',
      ...(sectionName === undefined ? {} : { sectionName }),
      ...(port === undefined ? {} : { port }),
    };
  });
  const hostnames = r.strs(spec, 'hostnames', 'spec').map((h) => h.toLowerCase());
  hostnames.forEach((h, i) => {
    const p = hostnameProblem(h);
    if (p) r.problem(`spec.hostnames[${i}]`, p);
  });
  const rawRules = r.objs(spec, 'rules', 'spec', { max: 16 });
  const rules = (rawRules.length === 0 ? [{}] : rawRules).map((rule, i) => readRule(r, meta, rule, `spec.rules[${i}]`));
  return { meta, parentRefs, hostnames, rules };
}

function readRule(r: FieldReader, meta: ObjectMeta, rule: Json, path: string): RuleSpec {
  r.known(rule, path, ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'sessionPersistence', 'retry']);
  if (rule.sessionPersistence !== undefined) r.problem(`${path}.sessionPersistence`, 'is not supported');
  if (rule.retry !== undefined) r.problem(`${path}.retry`, 'is not supported');
  const rawMatches = r.objs(rule, 'matches', path, { max: 64 });
  // The API server defaults an absent match list to one PathPrefix "/" match.
  const matches = (rawMatches.length === 0 ? [{}] : rawMatches).map((m, j) => readMatch(r, m, `${path}.matches[${j}]`));
  const filters = readFilters(r, meta, rule, path);
  const backendRefs = r.objs(rule, 'backendRefs', path, { max: 16 }).map((b, j) => {
    const bp = `${path}.backendRefs[${j}]`;
    r.known(b, bp, ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters']);
    const ref = readBackendRef(r, meta, b, bp);
    const bfilters = readFilters(r, meta, b, bp);
    for (const [k, f] of bfilters.entries()) {
      if (f.type === 'RequestRedirect' || f.type === 'URLRewrite') r.problem(`${bp}.filters[${k}]`, `${f.type} is not allowed on a backendRef`);
    }
    return { ...ref, filters: bfilters };
  });
  const timeouts = r.obj(rule, 'timeouts', path);
  let requestTimeoutMs: number | undefined;
  let backendTimeoutMs: number | undefined;
  if (timeouts) {
    for (const key of ['request', 'backendRequest'] as const) {
      const text = r.str(timeouts, key, `${path}.timeouts`);
      if (text === undefined) continue;
      const ms = parseDuration(text);
      if (typeof ms === 'string') r.problem(`${path}.timeouts.${key}`, ms);
      else if (key === 'request') requestTimeoutMs = ms;
      else backendTimeoutMs = ms;
    }
    if (requestTimeoutMs !== undefined && backendTimeoutMs !== undefined && requestTimeoutMs !== 0 && (backendTimeoutMs === 0 || backendTimeoutMs > requestTimeoutMs)) {
      r.problem(`${path}.timeouts.backendRequest`, 'must not be longer than timeouts.request');
    }
  }
  const rewrite = filters.find((f) => f.type === 'URLRewrite' || f.type === 'RequestRedirect');
  const prefixRewrite =
    rewrite && (rewrite.type === 'URLRewrite' || rewrite.type === 'RequestRedirect') && rewrite.path?.type === 'ReplacePrefixMatch';
  if (prefixRewrite && (matches.length !== 1 || matches[0]?.path.type !== 'PathPrefix')) {
    r.problem(`${path}.filters`, 'ReplacePrefixMatch needs exactly one match, of type PathPrefix');
  }
  const name = r.str(rule, 'name', path);
  return {
    ...(name === undefined ? {} : { name }),
    matches,
    filters,
    backendRefs,
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(backendTimeoutMs === undefined ? {} : { backendTimeoutMs }),
  };
}

function compileRegex(r: FieldReader, path: string, source: string): RegExp | undefined {
  try {
    // Anchored: a RegularExpression match must match the whole value (RE2 full-match semantics).
    return new RegExp(`^(?:${source})$`);
  } catch (e) {
    r.problem(path, `invalid regular expression: ${(e as Error).message}`);
    return undefined;
  }
}

function readMatch(r: FieldReader, m: Json, path: string): RouteMatch {
  r.known(m, path, ['path', 'headers', 'queryParams', 'method']);
  const p = r.obj(m, 'path', path) ?? {};
  const type = (r.str(p, 'type', `${path}.path`, { oneOf: ['Exact', 'PathPrefix', 'RegularExpression'] }) ?? 'PathPrefix') as PathMatch['type'];
  const value = r.str(p, 'value', `${path}.path`) ?? '/';
  let pathMatch: PathMatch = { type, value };
  if (type === 'RegularExpression') {
    const regex = compileRegex(r, `${path}.path.value`, value);
    if (regex) pathMatch = { type, value, regex };
  } else {
    const problem = pathProblem(value);
    if (problem) r.problem(`${path}.path.value`, problem);
  }
  const readStringMatches = (key: 'headers' | 'queryParams', lower: boolean): HeaderMatch[] => {
    const seen = new Set<string>();
    const out: HeaderMatch[] = [];
    r.objs(m, key, path, { max: 16 }).forEach((h, k) => {
      const hp = `${path}.${key}[${k}]`;
      const t = (r.str(h, 'type', hp, { oneOf: ['Exact', 'RegularExpression'] }) ?? 'Exact') as StringMatchType;
      const rawName = r.str(h, 'name', hp, { required: true }) ?? '';
      const v = r.str(h, 'value', hp, { required: true }) ?? '';
      if (rawName && !HEADER_NAME.test(rawName)) r.problem(`${hp}.name`, `${JSON.stringify(rawName)} is not a valid name`);
      const name = lower ? rawName.toLowerCase() : rawName;
      // Spec: only the first entry with an equivalent name is considered.
      if (seen.has(name)) r.problem(`${hp}.name`, `${JSON.stringify(rawName)} is matched twice in one match`);
      seen.add(name);
      const regex = t === 'RegularExpression' ? compileRegex(r, `${hp}.value`, v) : undefined;
      out.push({ type: t, name, value: v, ...(regex ? { regex } : {}) });
    });
    return out;
  };
  const headers = readStringMatches('headers', true);
  const queryParams = readStringMatches('queryParams', false);
  const method = r.str(m, 'method', path, { oneOf: METHODS });
  return { path: pathMatch, headers, queryParams, ...(method === undefined ? {} : { method }) };
}

function readHeaderModifier(r: FieldReader, f: Json, path: string): HeaderModifier {
  const names = new Set<string>();
  const pairs = (key: 'set' | 'add'): [string, string][] =>
    r.objs(f, key, path, { max: 16 }).map((h, i) => {
      const name = r.str(h, 'name', `${path}.${key}[${i}]`, { required: true }) ?? '';
      const value = r.str(h, 'value', `${path}.${key}[${i}]`, { required: true }) ?? '';
      if (name && !HEADER_NAME.test(name)) r.problem(`${path}.${key}[${i}].name`, `${JSON.stringify(name)} is not a valid header name`);
      const lower = name.toLowerCase();
      if (names.has(lower)) r.problem(`${path}.${key}[${i}].name`, `header ${JSON.stringify(name)} appears more than once in set/add`);
      names.add(lower);
      return [lower, value];
    });
  const set = pairs('set');
  const add = pairs('add');
  const remove = r.strs(f, 'remove', path).map((n) => n.toLowerCase());
  return { set, add, remove };
}

function readPathModifier(r: FieldReader, o: Json | undefined, path: string): PathModifier | undefined {
  if (!o) return undefined;
  const type = r.str(o, 'type', path, { required: true, oneOf: ['ReplaceFullPath', 'ReplacePrefixMatch'] });
  if (type === 'ReplaceFullPath') {
    const v = r.str(o, 'replaceFullPath', path, { required: true }) ?? '/';
    const p = pathProblem(v);
    if (p) r.problem(`${path}.replaceFullPath`, p);
    if (o.replacePrefixMatch !== undefined) r.problem(`${path}.replacePrefixMatch`, 'must not be set with type ReplaceFullPath');
    return { type, value: v };
  }
  if (type === 'ReplacePrefixMatch') {
    const v = r.str(o, 'replacePrefixMatch', path, { required: true }) ?? '/';
    const p = v === '' ? undefined : pathProblem(v);
    if (p) r.problem(`${path}.replacePrefixMatch`, p);
    if (o.replaceFullPath !== undefined) r.problem(`${path}.replaceFullPath`, 'must not be set with type ReplacePrefixMatch');
    return { type, value: v };
  }
  return undefined;
}

function readFilters(r: FieldReader, meta: ObjectMeta, parent: Json, path: string): FilterSpec[] {
  const out: FilterSpec[] = [];
  const counts = new Map<string, number>();
  r.objs(parent, 'filters', path, { max: 16 }).forEach((f, i) => {
    const fp = `${path}.filters[${i}]`;
    const type = r.str(f, 'type', fp, {
      required: true,
      oneOf: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'ExtensionRef'],
    });
    if (!type) return;
    counts.set(type, (counts.get(type) ?? 0) + 1);
    if (type !== 'RequestMirror' && (counts.get(type) ?? 0) > 1) r.problem(fp, `${type} may appear only once per rule`);
    const key = type === 'URLRewrite' ? 'urlRewrite' : type.charAt(0).toLowerCase() + type.slice(1);
    const body = type === 'ExtensionRef' ? undefined : r.obj(f, key, fp, true);
    if (type === 'ExtensionRef') {
      r.problem(fp, 'ExtensionRef filters are not supported; attach weft.dev policies with targetRef instead');
      return;
    }
    if (!body) return;
    const bp = `${fp}.${key}`;
    switch (type) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier':
        out.push({ type, modifier: readHeaderModifier(r, body, bp) });
        return;
      case 'RequestRedirect': {
        const scheme = r.str(body, 'scheme', bp, { oneOf: ['http', 'https'] }) as 'http' | 'https' | undefined;
        const hostname = r.str(body, 'hostname', bp);
        if (hostname !== undefined) {
          const p = hostnameProblem(hostname);
          if (p || hostname.startsWith('*')) r.problem(`${bp}.hostname`, p ?? 'must not be a wildcard');
        }
        const port = r.int(body, 'port', bp, { min: 1, max: 65535 });
        const pm = readPathModifier(r, r.obj(body, 'path', bp), `${bp}.path`);
        const statusCode = r.int(body, 'statusCode', bp) ?? 302;
        if (![301, 302, 303, 307, 308].includes(statusCode)) r.problem(`${bp}.statusCode`, `${statusCode} is not one of 301, 302, 303, 307, 308`);
        out.push({
          type,
          statusCode,
          ...(scheme ? { scheme } : {}),
          ...(hostname !== undefined ? { hostname } : {}),
          ...(port !== undefined ? { port } : {}),
          ...(pm ? { path: pm } : {}),
        });
        return;
      }
      case 'URLRewrite': {
        const hostname = r.str(body, 'hostname', bp);
        if (hostname !== undefined) {
          const p = hostnameProblem(hostname);
          if (p || hostname.startsWith('*')) r.problem(`${bp}.hostname`, p ?? 'must not be a wildcard');
        }
        const pm = readPathModifier(r, r.obj(body, 'path', bp), `${bp}.path`);
        out.push({ type, ...(hostname !== undefined ? { hostname } : {}), ...(pm ? { path: pm } : {}) });
        return;
      }
      case 'RequestMirror': {
        const b = r.obj(body, 'backendRef', bp, true);
        if (!b) return;
        const backend = { ...readBackendRef(r, meta, b, `${bp}.backendRef`, true), filters: [] };
        let percent = 100;
        const pct = r.int(body, 'percent', bp, { min: 0, max: 100 });
        if (pct !== undefined) percent = pct;
        const fraction = r.obj(body, 'fraction', bp);
        if (fraction) {
          const num = r.int(fraction, 'numerator', `${bp}.fraction`, { required: true, min: 0 }) ?? 0;
          const den = r.int(fraction, 'denominator', `${bp}.fraction`, { min: 1 }) ?? 100;
          if (num > den) r.problem(`${bp}.fraction`, 'numerator must not exceed denominator');
          percent = (100 * num) / den;
        }
        out.push({ type, backend, percent });
        return;
      }
    }
  });
  if (counts.has('RequestRedirect') && counts.has('URLRewrite')) r.problem(`${path}.filters`, 'RequestRedirect and URLRewrite cannot be used in the same rule');
  if (counts.has('RequestRedirect') && Array.isArray(parent.backendRefs) && parent.backendRefs.length > 0) {
    r.problem(`${path}.backendRefs`, 'must be empty when the rule redirects');
  }
  return out;
}

function readBackendRef(r: FieldReader, meta: ObjectMeta, b: Json, path: string, noWeight = false): Omit<BackendRefSpec, 'filters'> {
  const group = r.str(b, 'group', path) ?? '';
  const kind = r.str(b, 'kind', path) ?? 'Service';
  const name = r.str(b, 'name', path, { required: true }) ?? '';
  const namespace = r.str(b, 'namespace', path) ?? meta.namespace;
  const port = r.int(b, 'port', path, { min: 1, max: 65535 });
  if (group === '' && kind === 'Service' && port === undefined) r.problem(`${path}.port`, 'is required when referring to a Service');
  const weight = noWeight ? 1 : r.int(b, 'weight', path, { min: 0, max: 1_000_000 }) ?? 1;
  return { group, kind, name, namespace, weight, ...(port === undefined ? {} : { port }) };
}

function readIngressBackend(r: FieldReader, meta: ObjectMeta, b: Json, path: string): BackendRefSpec | undefined {
  const svc = r.obj(b, 'service', path);
  const res = r.obj(b, 'resource', path);
  if (res) {
    const kind = r.str(res, 'kind', `${path}.resource`, { required: true }) ?? '';
    const group = r.str(res, 'apiGroup', `${path}.resource`) ?? '';
    return { group, kind, name: r.str(res, 'name', `${path}.resource`, { required: true }) ?? '', namespace: meta.namespace, weight: 1, filters: [] };
  }
  if (!svc) {
    r.problem(path, 'needs service (or resource)');
    return undefined;
  }
  const name = r.str(svc, 'name', `${path}.service`, { required: true }) ?? '';
  const port = r.obj(svc, 'port', `${path}.service`, true) ?? {};
  const number = r.int(port, 'number', `${path}.service.port`, { min: 1, max: 65535 });
  const portName = r.str(port, 'name', `${path}.service.port`);
  if ((number === undefined) === (portName === undefined)) r.problem(`${path}.service.port`, 'needs exactly one of number and name');
  return {
    group: '',
    kind: 'Service',
    name,
    namespace: meta.namespace,
    weight: 1,
    filters: [],
    ...(number === undefined ? {} : { port: number }),
    ...(portName === undefined ? {} : { portName }),
  };
}

function readIngress(r: FieldReader, meta: ObjectMeta, spec: Json): IngressSpec | undefined {
  const className = r.str(spec, 'ingressClassName', 'spec');
  // Ingresses of another class belong to another controller: skipped, not an error.
  if (className !== undefined && className !== WEFT_CLASS) return undefined;
  const db = r.obj(spec, 'defaultBackend', 'spec');
  const defaultBackend = db ? readIngressBackend(r, meta, db, 'spec.defaultBackend') : undefined;
  const rules = r.objs(spec, 'rules', 'spec').map((rule, i) => {
    const path = `spec.rules[${i}]`;
    const host = r.str(rule, 'host', path)?.toLowerCase();
    if (host !== undefined) {
      const p = hostnameProblem(host);
      if (p) r.problem(`${path}.host`, p);
    }
    const http = r.obj(rule, 'http', path) ?? {};
    const paths = r.objs(http, 'paths', `${path}.http`, { required: true }).flatMap((p, j): IngressPath[] => {
      const pp = `${path}.http.paths[${j}]`;
      const pathType = r.str(p, 'pathType', pp, { required: true, oneOf: ['Exact', 'Prefix', 'ImplementationSpecific'] }) as IngressPath['pathType'] | undefined;
      const value = r.str(p, 'path', pp) ?? '/';
      const problem = pathProblem(value);
      if (problem) r.problem(`${pp}.path`, problem);
      const b = r.obj(p, 'backend', pp, true);
      const backend = b ? readIngressBackend(r, meta, b, `${pp}.backend`) : undefined;
      return pathType && backend ? [{ path: value, pathType, backend }] : [];
    });
    return { ...(host === undefined ? {} : { host }), paths };
  });
  if (!defaultBackend && rules.length === 0) r.problem('spec', 'needs rules or a defaultBackend');
  const tls = r.objs(spec, 'tls', 'spec').flatMap((t, i) => {
    const secretName = r.str(t, 'secretName', `spec.tls[${i}]`, { required: true });
    return secretName ? [{ hosts: r.strs(t, 'hosts', `spec.tls[${i}]`).map((h) => h.toLowerCase()), secretName }] : [];
  });
  return { meta, rules, tls, ...(defaultBackend ? { defaultBackend } : {}) };
}

