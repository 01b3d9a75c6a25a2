// What a rule's match tests and the spec's precedence order among rules: pure functions the
// route table sorts and looks up with.
import { hostSpecificity } from './hostnames.js';
import { prefixMatches, trimTrailingSlash } from './paths.js';
import type { RouteMatch } from './resources.js';

/** What the table needs to know about a request. */
export interface RouteRequest {
  /** Lowercase, without port. */
  readonly host: string;
  /** The port the Host / :authority names, if any (it chooses among the listener ports a socket serves). */
  readonly port?: number;
  /** The path without the query string, as sent. */
  readonly path: string;
  readonly method: string;
  /** Lowercase header names (node's IncomingMessage.headers shape). */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly query: URLSearchParams;
}

/** What precedence compares of a table entry. */
export interface Ranked {
  readonly host: string;
  readonly match: RouteMatch;
  readonly rule: { readonly route: { readonly namespace: string; readonly name: string } };
  readonly createdMs: number;
  readonly order: number;
}

// A GRPCRoute matches gRPC requests only: content-type application/grpc, bare or with a subtype.
const GRPC_CONTENT_TYPE = /^application\/grpc(?:$|[+;])/i;

function headerValue(headers: RouteRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : (v as string | undefined);
}

/** True when every condition of one HTTPRouteMatch holds (AND within a match). */
export function matches(m: RouteMatch, req: RouteRequest): boolean {
  const p = m.path;
  if (p.type === 'Exact' ? req.path !== p.value : p.type === 'PathPrefix' ? !prefixMatches(p.value, req.path) : !p.regex?.test(req.path)) return false;
  if (m.method !== undefined && m.method !== req.method) return false;
  if (m.grpc === true && !GRPC_CONTENT_TYPE.test(headerValue(req.headers, 'content-type') ?? '')) return false;
  for (const h of m.headers) {
    const v = headerValue(req.headers, h.name);
    if (v === undefined || (h.type === 'Exact' ? v !== h.value : !h.regex?.test(v))) return false;
  }
  for (const q of m.queryParams) {
    // Repeated parameters: the first value counts.
    const v = req.query.get(q.name);
    if (v === null || (q.type === 'Exact' ? v !== q.value : !q.regex?.test(v))) return false;
  }
  return true;
}

// Path class: Exact beats RegularExpression beats PathPrefix (the regex rank is ours: the spec
// leaves it to the implementation; this is Envoy Gateway's order).
function pathRank(m: RouteMatch): [number, number] {
  const p = m.path;
  if (p.type === 'Exact') return [3, p.value.length];
  if (p.type === 'RegularExpression') return [2, p.value.length];
  return [1, trimTrailingSlash(p.value).length];
}

/** Precedence order of the spec; negative when a comes first. */
export function compareEntries(a: Ranked, b: Ranked): number {
  const [ah, al] = hostSpecificity(a.host);
  const [bh, bl] = hostSpecificity(b.host);
  if (ah !== bh) return bh - ah;
  if (al !== bl) return bl - al;
  const [ap, apl] = pathRank(a.match);
  const [bp, bpl] = pathRank(b.match);
  if (ap !== bp) return bp - ap;
  if (apl !== bpl) return bpl - apl;
  const am = a.match.method ? 1 : 0;
  const bm = b.match.method ? 1 : 0;
  if (am !== bm) return bm - am;
  if (a.match.headers.length !== b.match.headers.length) return b.match.headers.length - a.match.headers.length;
  if (a.match.queryParams.length !== b.match.queryParams.length) return b.match.queryParams.length - a.match.queryParams.length;
  if (a.createdMs !== b.createdMs) return a.createdMs - b.createdMs;
  const an = `${a.rule.route.namespace}/${a.rule.route.name}`;
  const bn = `${b.rule.route.namespace}/${b.rule.route.name}`;
  if (an !== bn) return an < bn ? -1 : 1;
  return a.order - b.order;
}
