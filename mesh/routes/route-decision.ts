// Which rule of a Service's mesh routes a request matches (Gateway API precedence), and which
// weighted backend it goes to: pure, the random source passed in.
import { WeftError } from '../../lib/errors.js';
import type { ServiceRef } from '../discovery/endpoint-source.js';
import type { MeshMatch, MeshRouteTable, MeshRule, ValueMatch } from './mesh-routes.js';

/** What a decision reads of a request. */
export interface RouteHead {
  /** Path with query string, as sent. */
  readonly path: string;
  readonly method: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** A matched rule and the backend chosen by weight. */
export interface RouteChoice {
  readonly rule: MeshRule;
  readonly backend: ServiceRef;
}

interface Candidate {
  readonly rule: MeshRule;
  readonly match: MeshMatch;
}

/** Routes compiled for lookup: each Service's (rule, match) pairs in precedence order. */
export class CompiledRoutes {
  readonly #byService = new Map<string, readonly Candidate[]>();

  constructor(table: MeshRouteTable) {
    for (const [key, rules] of table) {
      const candidates: Candidate[] = [];
      for (const rule of rules) for (const match of rule.matches) candidates.push({ rule, match });
      // Gateway API precedence: an Exact path, then the longest prefix, then a method, then more
      // headers, then more query params; ties keep the file's order (sort is stable).
      candidates.sort((a, b) => precedence(b.match) - precedence(a.match));
      this.#byService.set(key, candidates);
    }
  }

  /** True when no Service has a route (every request takes the plain path). */
  get empty(): boolean {
    return this.#byService.size === 0;
  }

  /**
   * The rule a request to `ref` matches and its backend; undefined when the Service has no route
   * or no rule matches (the request goes to the Service itself, as without routes); a WeftError
   * when the rule has no backend with weight.
   */
  decide(ref: ServiceRef, head: RouteHead, random: () => number): RouteChoice | WeftError | undefined {
    const candidates = this.#byService.get(`${ref.namespace}/${ref.name}:${ref.port}`) ?? this.#byService.get(`${ref.namespace}/${ref.name}`);
    if (!candidates) return undefined;
    const q = head.path.indexOf('?');
    const path = q < 0 ? head.path : head.path.slice(0, q);
    let query: URLSearchParams | undefined;
    for (const { rule, match } of candidates) {
      if (match.method !== undefined && match.method !== head.method) continue;
      if (match.path && !pathMatches(match.path, path)) continue;
      if (!match.headers.every((h) => valueMatches(h, first(head.headers[h.name])))) continue;
      if (match.query.length > 0) {
        query ??= new URLSearchParams(q < 0 ? '' : head.path.slice(q + 1));
        const params = query;
        if (!match.query.every((m) => valueMatches(m, params.get(m.name) ?? undefined))) continue;
      }
      const backend = pickBackend(rule, random);
      if (!backend) return new WeftError('WEFT_ERR_ROUTE_NO_BACKEND', `mesh route ${rule.label} has no backend with a weight`);
      return { rule, backend };
    }
    return undefined;
  }
}

function precedence(m: MeshMatch): number {
  const p = m.path;
  const pathScore = p === undefined ? 0 : p.type === 'Exact' ? 2_000_000 : p.type === 'PathPrefix' ? 1_000_000 + p.value.length * 100 : 500;
  return pathScore + (m.method ? 50 : 0) + m.headers.length * 5 + m.query.length;
}

function pathMatches(p: NonNullable<MeshMatch['path']>, path: string): boolean {
  if (p.type === 'Exact') return path === p.value;
  if (p.type === 'RegularExpression') return p.regex?.test(path) ?? false;
  // PathPrefix matches whole segments: /foo matches /foo and /foo/bar, not /foobar.
  const prefix = p.value.endsWith('/') && p.value !== '/' ? p.value.slice(0, -1) : p.value;
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

function valueMatches(m: ValueMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  return m.regex ? m.regex.test(value) : value === m.exact;
}

function first(v: string | readonly string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : v?.[0];
}

// A weighted draw over the rule's backends (a weight of 0 is never drawn).
function pickBackend(rule: MeshRule, random: () => number): ServiceRef | undefined {
  if (rule.totalWeight <= 0) return undefined;
  let x = random() * rule.totalWeight;
  for (const b of rule.backends) {
    if (b.weight === 0) continue;
    if (x < b.weight) return b.ref;
    x -= b.weight;
  }
  return rule.backends.findLast((b) => b.weight > 0)?.ref;
}
