// Parses a Gateway API v1 GRPCRoute (parent refs, hostnames, and each rule's method and header
// matches, filters and weighted backends) and says what its matches mean as HTTP/2 request
// matches: a gRPC call is a POST of /<service>/<method> with content-type application/grpc.
import type { FieldReader, Json } from './field-reader.js';
import { readBackendRef, readFilters, HEADER_NAME, type BackendRefSpec, type FilterSpec } from './filter-specs.js';
import { readHostnames, readParentRefs, type HeaderMatch, type ParentRef, type RouteMatch, type RuleSpec, type StringMatchType } from './http-route.js';
import type { ObjectMeta } from './object-meta.js';

/** GRPCMethodMatch: the service and/or method, compared exactly or as regular expressions. */
export interface GrpcMethodMatch {
  readonly type: StringMatchType;
  /** Fully qualified service name ("weft.test.Echo"); undefined matches any service. */
  readonly service?: string;
  /** Method name ("Unary"); undefined matches any method. */
  readonly method?: string;
}

/** One GRPCRouteMatch: every condition must hold. */
export interface GrpcRouteMatch {
  readonly method?: GrpcMethodMatch;
  readonly headers: readonly HeaderMatch[];
}

/** One rule of a GRPCRoute. */
export interface GrpcRuleSpec {
  readonly name?: string;
  readonly matches: readonly GrpcRouteMatch[];
  readonly filters: readonly FilterSpec[];
  readonly backendRefs: readonly BackendRefSpec[];
}

/** A parsed GRPCRoute. */
export interface GrpcRouteSpec {
  readonly meta: ObjectMeta;
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly GrpcRuleSpec[];
}

// The CRD's patterns for exact names: a dotted protobuf service name, a method identifier.
const SERVICE_NAME = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const METHOD_NAME = /^[A-Za-z_][A-Za-z_0-9]*$/;
/** The filters a GRPCRoute may carry (GRPCRouteFilterType; ExtensionRef is refused as on HTTPRoutes). */
export const GRPC_FILTER_TYPES: readonly string[] = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef'];

/** Reads a GRPCRoute's spec. */
export function readGrpcRoute(r: FieldReader, meta: ObjectMeta, spec: Json): GrpcRouteSpec {
  r.known(spec, 'spec', ['parentRefs', 'hostnames', 'rules']);
  const parentRefs = readParentRefs(r, meta, spec);
  const hostnames = readHostnames(r, spec);
  const rawRules = r.objs(spec, 'rules', 'spec', { max: 16 });
  const rules = (rawRules.length === 0 ? [{}] : rawRules).map((rule, i) => readRule(r, meta, rule, `spec.rules[${i}]`));
  return { meta, parentRefs, hostnames, rules };
}

function readRule(r: FieldReader, meta: ObjectMeta, rule: Json, path: string): GrpcRuleSpec {
  r.known(rule, path, ['name', 'matches', 'filters', 'backendRefs', 'sessionPersistence']);
  if (rule.sessionPersistence !== undefined) r.problem(`${path}.sessionPersistence`, 'is not supported');
  const rawMatches = r.objs(rule, 'matches', path, { max: 8 });
  // No match at all matches every gRPC call.
  const matches = (rawMatches.length === 0 ? [{}] : rawMatches).map((m, j) => readMatch(r, m, `${path}.matches[${j}]`));
  const filters = grpcFilters(r, meta, rule, path);
  const backendRefs = r.objs(rule, 'backendRefs', path, { max: 16 }).map((b, j) => {
    const bp = `${path}.backendRefs[${j}]`;
    r.known(b, bp, ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters']);
    return { ...readBackendRef(r, meta, b, bp), filters: grpcFilters(r, meta, b, bp) };
  });
  const name = r.str(rule, 'name', path);
  return { ...(name === undefined ? {} : { name }), matches, filters, backendRefs };
}

// The HTTPRoute filter reader, after refusing the types a GRPCRoute does not have (redirects,
// rewrites, CORS) at their exact place.
function grpcFilters(r: FieldReader, meta: ObjectMeta, parent: Json, path: string): FilterSpec[] {
  const raw = parent.filters;
  let foreign = false;
  if (Array.isArray(raw)) {
    raw.forEach((f: unknown, i) => {
      const type = f !== null && typeof f === 'object' ? (f as Json).type : undefined;
      if (typeof type === 'string' && !GRPC_FILTER_TYPES.includes(type)) {
        foreign = true;
        r.problem(`${path}.filters[${i}].type`, `${JSON.stringify(type)} is not a GRPCRoute filter (${GRPC_FILTER_TYPES.join(', ')})`);
      }
    });
  }
  return foreign ? [] : readFilters(r, meta, parent, path);
}

function readMatch(r: FieldReader, m: Json, path: string): GrpcRouteMatch {
  r.known(m, path, ['method', 'headers']);
  const raw = r.obj(m, 'method', path);
  let method: GrpcMethodMatch | undefined;
  if (raw) {
    const mp = `${path}.method`;
    r.known(raw, mp, ['type', 'service', 'method']);
    const type = (r.str(raw, 'type', mp, { oneOf: ['Exact', 'RegularExpression'] }) ?? 'Exact') as StringMatchType;
    const service = r.str(raw, 'service', mp);
    const name = r.str(raw, 'method', mp);
    if (service === undefined && name === undefined) r.problem(mp, 'one or both of service and method must be set');
    if (type === 'Exact') {
      if (service !== undefined && !SERVICE_NAME.test(service)) r.problem(`${mp}.service`, `${JSON.stringify(service)} is not a gRPC service name`);
      if (name !== undefined && !METHOD_NAME.test(name)) r.problem(`${mp}.method`, `${JSON.stringify(name)} is not a gRPC method name`);
    } else {
      if (service !== undefined) compile(r, `${mp}.service`, service);
      if (name !== undefined) compile(r, `${mp}.method`, name);
    }
    method = { type, ...(service === undefined ? {} : { service }), ...(name === undefined ? {} : { method: name }) };
  }
  const seen = new Set<string>();
  const headers = r.objs(m, 'headers', path, { max: 16 }).map((h, k): HeaderMatch => {
    const hp = `${path}.headers[${k}]`;
    r.known(h, hp, ['type', 'name', 'value']);
    const type = (r.str(h, 'type', hp, { oneOf: ['Exact', 'RegularExpression'] }) ?? 'Exact') as StringMatchType;
    const rawName = r.str(h, 'name', hp, { required: true }) ?? '';
    const value = r.str(h, 'value', hp, { required: true }) ?? '';
    if (rawName && !HEADER_NAME.test(rawName)) r.problem(`${hp}.name`, `${JSON.stringify(rawName)} is not a valid header name`);
    const name = rawName.toLowerCase();
    if (seen.has(name)) r.problem(`${hp}.name`, `${JSON.stringify(rawName)} is matched twice in one match`);
    seen.add(name);
    const regex = type === 'RegularExpression' ? compile(r, `${hp}.value`, value) : undefined;
    return { type, name, value, ...(regex ? { regex } : {}) };
  });
  return { ...(method === undefined ? {} : { method }), headers };
}

// Anchored: a RegularExpression must match the whole value, as RE2 full-match does.
function compile(r: FieldReader | undefined, path: string, source: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (e) {
    r?.problem(path, `invalid regular expression: ${(e as Error).message}`);
    return undefined;
  }
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The request match a GRPCRoute match stands for: gRPC only, on the path /<service>/<method>.
 * Service and method exactly: an Exact path; the service alone: the path prefix /<service>; the
 * method alone, or regular expressions: a RegularExpression path (a missing part is any segment).
 */
export function grpcRouteMatch(m: GrpcRouteMatch): RouteMatch {
  const base = { headers: m.headers, queryParams: [], grpc: true };
  const mm = m.method;
  if (!mm) return { path: { type: 'PathPrefix', value: '/' }, ...base };
  if (mm.type === 'Exact' && mm.service !== undefined && mm.method !== undefined) return { path: { type: 'Exact', value: `/${mm.service}/${mm.method}` }, ...base };
  if (mm.type === 'Exact' && mm.service !== undefined) return { path: { type: 'PathPrefix', value: `/${mm.service}` }, ...base };
  const part = (v: string | undefined): string => (v === undefined ? '[^/]+' : mm.type === 'Exact' ? escape(v) : `(?:${v})`);
  const value = `/${part(mm.service)}/${part(mm.method)}`;
  const regex = compile(undefined, '', value);
  return { path: regex ? { type: 'RegularExpression', value, regex } : { type: 'RegularExpression', value }, ...base };
}

/** A GRPCRoute's rules as the route table compiles HTTPRoute rules (no timeouts or retries: GRPCRoute has none). */
export function grpcRules(route: GrpcRouteSpec): RuleSpec[] {
  return route.rules.map((rule) => ({
    ...(rule.name === undefined ? {} : { name: rule.name }),
    matches: rule.matches.map(grpcRouteMatch),
    filters: rule.filters,
    backendRefs: rule.backendRefs,
  }));
}
