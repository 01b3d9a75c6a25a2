// Parses a Gateway API v1 HTTPRoute: parent refs, hostnames, and each rule's matches, filters,
// backends and timeouts.
import type { FieldReader, Json } from './field-reader.js';
import { readBackendRef, readFilters, HEADER_NAME, type BackendRefSpec, type FilterSpec } from './filter-specs.js';
import { hostnameProblem } from './hostnames.js';
import { GATEWAY_API_GROUP, type ObjectMeta } from './object-meta.js';
import { parseDuration, pathProblem } from './paths.js';

/** The Gateway a route asks to attach to. */
export interface ParentRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

/** How a header or query parameter value is compared. */
export type StringMatchType = 'Exact' | 'RegularExpression';

/** One header or query parameter condition. */
export interface HeaderMatch {
  readonly type: StringMatchType;
  /** Lowercased for headers; as written for query parameters (they are case-sensitive). */
  readonly name: string;
  readonly value: string;
  readonly regex?: RegExp;
}

/** The path condition of a match. */
export interface PathMatch {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly value: string;
  readonly regex?: RegExp;
}

/** One HTTPRouteMatch: every condition must hold. */
export interface RouteMatch {
  readonly path: PathMatch;
  readonly headers: readonly HeaderMatch[];
  readonly queryParams: readonly HeaderMatch[];
  readonly method?: string;
  /** Set for a GRPCRoute's match: only a gRPC request (content-type application/grpc) matches. */
  readonly grpc?: boolean;
}

/** One rule of a route. */
export interface RuleSpec {
  readonly name?: string;
  readonly matches: readonly RouteMatch[];
  readonly filters: readonly FilterSpec[];
  readonly backendRefs: readonly BackendRefSpec[];
  readonly requestTimeoutMs?: number;
  readonly backendTimeoutMs?: number;
  /** The rule's `retry` field (Gateway API HTTPRouteRetry). */
  readonly retry?: RouteRetrySpec;
}

/** HTTPRouteRetry: which statuses are retried, how many times, and the pause between. */
export interface RouteRetrySpec {
  readonly codes: readonly number[];
  /** Retries after the first attempt. */
  readonly attempts: number;
  readonly backoffMs: number;
}

/** Retries when `retry.attempts` is unset (the Gateway API leaves it to the implementation). */
export const DEFAULT_RETRY_ATTEMPTS = 2;
/** The pause when `retry.backoff` is unset. */
export const DEFAULT_RETRY_BACKOFF_MS = 25;

/** A parsed HTTPRoute. */
export interface HttpRouteSpec {
  readonly meta: ObjectMeta;
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly RuleSpec[];
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

/** Reads an HTTPRoute's spec. */
export function readHttpRoute(r: FieldReader, meta: ObjectMeta, spec: Json): HttpRouteSpec {
  r.known(spec, 'spec', ['parentRefs', 'hostnames', 'rules']);
  const parentRefs = readParentRefs(r, meta, spec);
  const hostnames = readHostnames(r, spec);
  const rawRules = r.objs(spec, 'rules', 'spec', { max: 16 });
  const rules = (rawRules.length === 0 ? [{}] : rawRules).map((rule, i) => readRule(r, meta, rule, `spec.rules[${i}]`));
  return { meta, parentRefs, hostnames, rules };
}

/** Reads a route's `spec.parentRefs` (Gateways only; sectionName and port kept). Shared by every route kind. */
export function readParentRefs(r: FieldReader, meta: ObjectMeta, spec: Json): ParentRef[] {
  return r.objs(spec, 'parentRefs', 'spec', { max: 32 }).map((p, i): ParentRef => {
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
}

/** Reads a route's `spec.hostnames`, lower-cased, each checked. Shared by every route kind. */
export function readHostnames(r: FieldReader, spec: Json): string[] {
  const hostnames = r.strs(spec, 'hostnames', 'spec').map((h) => h.toLowerCase());
  hostnames.forEach((h, i) => {
    const p = hostnameProblem(h);
    if (p) r.problem(`spec.hostnames[${i}]`, p);
  });
  return hostnames;
}

function readRule(r: FieldReader, meta: ObjectMeta, rule: Json, path: string): RuleSpec {
  r.known(rule, path, ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'sessionPersistence', 'retry']);
  if (rule.sessionPersistence !== undefined) r.problem(`${path}.sessionPersistence`, 'is not supported');
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
  const retry = readRetry(r, rule, path);
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
    ...(retry === undefined ? {} : { retry }),
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

/** Reads a rule's `retry` (codes 400-599, attempts, backoff as a Gateway API duration). */
export function readRetry(r: FieldReader, rule: Json, path: string): RouteRetrySpec | undefined {
  const retry = r.obj(rule, 'retry', path);
  if (!retry) return undefined;
  const rp = `${path}.retry`;
  r.known(retry, rp, ['codes', 'attempts', 'backoff']);
  const codes: number[] = [];
  const rawCodes = retry.codes;
  if (rawCodes !== undefined && !Array.isArray(rawCodes)) r.problem(`${rp}.codes`, 'must be a list of status codes');
  if (Array.isArray(rawCodes)) {
    rawCodes.forEach((c: unknown, i) => {
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 400 || c > 599) r.problem(`${rp}.codes[${i}]`, 'must be a status code from 400 to 599');
      else codes.push(c);
    });
  }
  const attempts = r.int(retry, 'attempts', rp, { min: 0, max: 10 }) ?? DEFAULT_RETRY_ATTEMPTS;
  let backoffMs = DEFAULT_RETRY_BACKOFF_MS;
  const backoff = r.str(retry, 'backoff', rp);
  if (backoff !== undefined) {
    const ms = parseDuration(backoff);
    if (typeof ms === 'string') r.problem(`${rp}.backoff`, ms);
    else backoffMs = ms;
  }
  return { codes, attempts, backoffMs };
}
