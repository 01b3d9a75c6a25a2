// Mesh routes (Gateway API for meshes, GAMMA): HTTPRoutes whose parentRef is a Service, read by
// the proxies that call that Service. This module parses them (pure) from the local-mode routes
// file into a table keyed by the parent Service, every problem listed at once.
import { createRequire } from 'node:module';
import type { parseAllDocuments } from 'yaml';
import { WeftError } from '../../lib/errors.js';
import { routeRetryPolicy } from '../traffic/route-retry.js';
import type { RequestTimeouts, RetryPolicy } from '../traffic/retry-policy.js';
import type { ServiceRef } from '../discovery/endpoint-source.js';

/** A string condition of a match: exact or a regular expression. */
export interface ValueMatch {
  readonly name: string;
  readonly exact?: string;
  readonly regex?: RegExp;
}

/** One HTTPRouteMatch: every condition present must hold. */
export interface MeshMatch {
  readonly path?: { readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression'; readonly value: string; readonly regex?: RegExp };
  readonly headers: readonly ValueMatch[];
  readonly query: readonly ValueMatch[];
  readonly method?: string;
}

/** RequestHeaderModifier: lower-case names. */
export interface HeaderChanges {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

/** URLRewrite: a new Host and/or path. */
export interface UrlRewrite {
  readonly hostname?: string;
  readonly path?: { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly value: string };
}

/** A weighted backend Service. */
export interface MeshBackend {
  readonly ref: ServiceRef;
  readonly weight: number;
}

/** One rule: where matching requests go and how. */
export interface MeshRule {
  /** "ns/route/rule" (or the rule's name): the metrics and log label. */
  readonly label: string;
  readonly matches: readonly MeshMatch[];
  readonly backends: readonly MeshBackend[];
  /** Sum of the backends' weights (0: the rule answers 500, as the Gateway API says). */
  readonly totalWeight: number;
  readonly headers?: HeaderChanges;
  readonly rewrite?: UrlRewrite;
  readonly timeouts: RequestTimeouts;
  readonly retry?: RetryPolicy;
}

/** Mesh routes by parent Service key (ns/name:port, or ns/name for every port). */
export type MeshRouteTable = ReadonlyMap<string, readonly MeshRule[]>;

/** Annotation that lets a route's retry resend non-idempotent methods (POST, PATCH). */
export const RETRY_NON_IDEMPOTENT_ANNOTATION = 'retry.weft.dev/non-idempotent';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objs = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
// A scalar as text (YAML may read `value: 1` as a number); anything else is empty.
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

/** Parses a Gateway API duration ("100ms", "1s", "1m", "1h30m") to ms, or says what is wrong. */
export function parseDurationMs(text: string): number | string {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (!m || text === '') return `${JSON.stringify(text)} is not a duration such as 100ms, 1s, 1m`;
  return Number(m[1] ?? 0) * 3_600_000 + Number(m[2] ?? 0) * 60_000 + Number(m[3] ?? 0) * 1000 + Number(m[4] ?? 0);
}

/** Parses the routes file (YAML or JSON, one or many documents); throws WEFT_ERR_ROUTES_FILE listing every problem. */
export function parseMeshRoutes(text: string, source: string, defaultNamespace: string): MeshRouteTable {
  const problems: string[] = [];
  const table = new Map<string, MeshRule[]>();
  const read = (value: unknown, d: number): void => {
    if (value === null || value === undefined) return;
    const items = isObj(value) && value.kind === 'List' ? objs(value.items) : [value];
    for (const item of items) readRoute(item, d, defaultNamespace, table, problems);
  };
  const json = jsonDocument(text);
  if (json.ok) read(json.value, 0);
  else {
    loadYaml()(text).forEach((doc, d) => {
      if (doc.errors.length > 0) return void problems.push(`document ${d}: ${doc.errors[0]?.message ?? 'bad YAML'}`);
      read(doc.toJS(), d);
    });
  }
  if (problems.length > 0) throw new WeftError('WEFT_ERR_ROUTES_FILE', `${source}: ${problems.join('; ')}`);
  return table;
}

// Kubernetes mode compiles every route from JSON and `weft up` writes JSON: neither needs a YAML
// parser, and the yaml package adds 6-13 MB to a sidecar's idle RSS, so it is loaded only for a
// document that is not JSON (one JSON value reads the same through both parsers).
function jsonDocument(text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function loadYaml(): typeof parseAllDocuments {
  return (createRequire(import.meta.url)('yaml') as { parseAllDocuments: typeof parseAllDocuments }).parseAllDocuments;
}

function readRoute(item: unknown, d: number, defaultNamespace: string, table: Map<string, MeshRule[]>, problems: string[]): void {
  if (!isObj(item)) return void problems.push(`document ${d}: not an object`);
  const kind = str(item.kind);
  if (kind !== 'HTTPRoute' && kind !== 'GRPCRoute') return void problems.push(`document ${d}: kind ${JSON.stringify(kind)} is not HTTPRoute or GRPCRoute`);
  const grpc = kind === 'GRPCRoute';
  const meta = isObj(item.metadata) ? item.metadata : {};
  const name = str(meta.name) ?? '';
  const namespace = str(meta.namespace) ?? defaultNamespace;
  const where = `${kind} ${namespace}/${name || '?'}`;
  if (!name) problems.push(`${where}: metadata.name is required`);
  const annotations = isObj(meta.annotations) ? meta.annotations : {};
  const nonIdempotent = annotations[RETRY_NON_IDEMPOTENT_ANNOTATION] === 'true';
  const spec = isObj(item.spec) ? item.spec : {};
  const parents = objs(spec.parentRefs).filter((p) => (str(p.kind) ?? 'Gateway') === 'Service' && (str(p.group) ?? '') === '');
  if (parents.length === 0) return void problems.push(`${where}: no parentRef of kind Service (group "") — a mesh route attaches to a Service`);
  const rawRules = objs(spec.rules);
  const rules = (rawRules.length === 0 ? [{}] : rawRules).map((rule, i) => readRule(rule, `${where} rules[${i}]`, `${namespace}/${name}/${str(rule.name) ?? i}`, namespace, nonIdempotent, grpc, problems));
  for (const parent of parents) {
    const pname = str(parent.name) ?? '';
    const pns = str(parent.namespace) ?? namespace;
    const port = typeof parent.port === 'number' ? parent.port : undefined;
    if (!pname) problems.push(`${where}: a parentRef names no Service`);
    const key = port === undefined ? `${pns}/${pname}` : `${pns}/${pname}:${port}`;
    const list = table.get(key) ?? [];
    list.push(...rules);
    table.set(key, list);
  }
}

function readRule(rule: Json, where: string, label: string, namespace: string, nonIdempotent: boolean, grpc: boolean, problems: string[]): MeshRule {
  const rawMatches = objs(rule.matches);
  const read = grpc ? readGrpcMatch : readMatch;
  const matches = (rawMatches.length === 0 ? [{}] : rawMatches).map((m, j) => read(m, `${where} matches[${j}]`, problems));
  const backends: MeshBackend[] = objs(rule.backendRefs).map((b, j) => {
    const bname = str(b.name) ?? '';
    if (!bname) problems.push(`${where} backendRefs[${j}]: name is required`);
    if ((str(b.kind) ?? 'Service') !== 'Service') problems.push(`${where} backendRefs[${j}]: only Service backends are supported`);
    const port = typeof b.port === 'number' ? b.port : 0;
    if (!(port > 0 && port < 65536)) problems.push(`${where} backendRefs[${j}]: port is required (1-65535)`);
    const weight = b.weight === undefined ? 1 : typeof b.weight === 'number' && Number.isInteger(b.weight) && b.weight >= 0 ? b.weight : -1;
    if (weight < 0) problems.push(`${where} backendRefs[${j}]: weight must be an integer >= 0`);
    return { ref: { namespace: str(b.namespace) ?? namespace, name: bname, port }, weight: Math.max(0, weight) };
  });
  let headers: HeaderChanges | undefined;
  let rewrite: UrlRewrite | undefined;
  for (const [k, f] of objs(rule.filters).entries()) {
    const type = str(f.type);
    if (type === 'RequestHeaderModifier' && isObj(f.requestHeaderModifier)) {
      const m = f.requestHeaderModifier;
      const pairs = (v: unknown): [string, string][] => objs(v).map((h) => [text(h.name).toLowerCase(), text(h.value)]);
      headers = { set: pairs(m.set), add: pairs(m.add), remove: (Array.isArray(m.remove) ? m.remove : []).map((n) => String(n).toLowerCase()) };
    } else if (type === 'URLRewrite' && isObj(f.urlRewrite)) {
      const u = f.urlRewrite;
      const p = isObj(u.path) ? u.path : undefined;
      const ptype = str(p?.type);
      const value = ptype === 'ReplaceFullPath' ? str(p?.replaceFullPath) : str(p?.replacePrefixMatch);
      if (p && (ptype !== 'ReplaceFullPath' && ptype !== 'ReplacePrefixMatch')) problems.push(`${where} filters[${k}]: path.type must be ReplaceFullPath or ReplacePrefixMatch`);
      const hostname = str(u.hostname);
      rewrite = {
        ...(hostname === undefined ? {} : { hostname }),
        ...(p && value !== undefined && (ptype === 'ReplaceFullPath' || ptype === 'ReplacePrefixMatch') ? { path: { type: ptype, value } } : {}),
      };
      if (ptype === 'ReplacePrefixMatch' && !matches.every((m) => m.path?.type === 'PathPrefix')) problems.push(`${where} filters[${k}]: ReplacePrefixMatch needs PathPrefix matches`);
    } else {
      problems.push(`${where} filters[${k}]: ${JSON.stringify(type)} is not supported in a mesh route (RequestHeaderModifier, URLRewrite)`);
    }
  }
  const timeouts = readTimeouts(rule.timeouts, where, problems);
  const retry = readRetry(rule.retry, where, nonIdempotent, problems);
  return {
    label,
    matches,
    backends,
    totalWeight: backends.reduce((sum, b) => sum + b.weight, 0),
    ...(headers ? { headers } : {}),
    ...(rewrite ? { rewrite } : {}),
    timeouts,
    ...(retry ? { retry } : {}),
  };
}

function readMatch(m: Json, where: string, problems: string[]): MeshMatch {
  const value = (v: Json, w: string): ValueMatch => {
    const name = text(v.name).toLowerCase();
    if (!name) problems.push(`${w}: name is required`);
    const value = text(v.value);
    if ((str(v.type) ?? 'Exact') === 'RegularExpression') return { name, regex: compile(value, w, problems) };
    return { name, exact: value };
  };
  let path: MeshMatch['path'];
  if (isObj(m.path)) {
    const type = str(m.path.type) ?? 'PathPrefix';
    const v = str(m.path.value) ?? '/';
    if (type !== 'Exact' && type !== 'PathPrefix' && type !== 'RegularExpression') problems.push(`${where}: path.type ${JSON.stringify(type)} is not Exact, PathPrefix or RegularExpression`);
    else path = type === 'RegularExpression' ? { type, value: v, regex: compile(`^(?:${v})$`, where, problems) } : { type, value: v };
  }
  const method = str(m.method);
  return {
    ...(path ? { path } : {}),
    headers: objs(m.headers).map((h, i) => value(h, `${where} headers[${i}]`)),
    query: objs(m.queryParams).map((q, i) => value(q, `${where} queryParams[${i}]`)),
    ...(method ? { method: method.toUpperCase() } : {}),
  };
}

// A GRPCRoute match as the HTTP/2 path it means: /<service>/<method>, plus header conditions.
function readGrpcMatch(m: Json, where: string, problems: string[]): MeshMatch {
  const http = readMatch({ headers: m.headers }, where, problems);
  if (!isObj(m.method)) return http;
  const type = str(m.method.type) ?? 'Exact';
  const service = str(m.method.service);
  const method = str(m.method.method);
  if (service === undefined && method === undefined) problems.push(`${where}: method needs service or method`);
  let path: MeshMatch['path'];
  if (type === 'RegularExpression') {
    const value = `/${service ?? '[^/]+'}/${method ?? '[^/]+'}`;
    path = { type: 'RegularExpression', value, regex: compile(`^(?:${value})$`, where, problems) };
  } else if (service !== undefined && method !== undefined) {
    path = { type: 'Exact', value: `/${service}/${method}` };
  } else if (service !== undefined) {
    path = { type: 'PathPrefix', value: `/${service}` };
  } else {
    const value = `/[^/]+/${escapeRegex(method ?? '')}`;
    path = { type: 'RegularExpression', value, regex: compile(`^(?:${value})$`, where, problems) };
  }
  return { path, headers: http.headers, query: [], method: 'POST' };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compile(source: string, where: string, problems: string[]): RegExp {
  try {
    return new RegExp(source);
  } catch {
    problems.push(`${where}: ${JSON.stringify(source)} is not a regular expression`);
    return /$^/;
  }
}

function readTimeouts(v: unknown, where: string, problems: string[]): RequestTimeouts {
  if (!isObj(v)) return { requestMs: 0, backendRequestMs: 0 };
  const read = (key: 'request' | 'backendRequest'): number => {
    const text = str(v[key]);
    if (text === undefined) return 0;
    const ms = parseDurationMs(text);
    if (typeof ms === 'string') {
      problems.push(`${where} timeouts.${key}: ${ms}`);
      return 0;
    }
    return ms;
  };
  const requestMs = read('request');
  const backendRequestMs = read('backendRequest');
  if (requestMs > 0 && backendRequestMs > requestMs) problems.push(`${where} timeouts.backendRequest must not be longer than timeouts.request`);
  return { requestMs, backendRequestMs };
}

function readRetry(v: unknown, where: string, nonIdempotent: boolean, problems: string[]): RetryPolicy | undefined {
  if (!isObj(v)) return undefined;
  const codes: number[] = [];
  for (const c of Array.isArray(v.codes) ? (v.codes as unknown[]) : []) {
    if (typeof c === 'number' && Number.isInteger(c) && c >= 400 && c <= 599) codes.push(c);
    else problems.push(`${where} retry.codes: ${JSON.stringify(c)} is not a status from 400 to 599`);
  }
  const attempts = v.attempts === undefined ? 2 : typeof v.attempts === 'number' && Number.isInteger(v.attempts) && v.attempts >= 0 && v.attempts <= 10 ? v.attempts : -1;
  if (attempts < 0) problems.push(`${where} retry.attempts must be an integer from 0 to 10`);
  let backoffMs = 25;
  const backoff = str(v.backoff);
  if (backoff !== undefined) {
    const ms = parseDurationMs(backoff);
    if (typeof ms === 'string') problems.push(`${where} retry.backoff: ${ms}`);
    else backoffMs = ms;
  }
  return routeRetryPolicy({ codes, attempts: Math.max(0, attempts), backoffMs, nonIdempotent });
}
