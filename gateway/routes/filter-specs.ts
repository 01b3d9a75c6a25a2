// Parses HTTPRoute filters (header modifiers, redirect, rewrite, mirror) and backendRefs, which
// a filter may name (RequestMirror) and which may carry filters of their own.
import type { FieldReader, Json } from './field-reader.js';
import { hostnameProblem } from './hostnames.js';
import type { ObjectMeta } from './object-meta.js';
import { pathProblem } from './paths.js';
import { readCorsFilter, type CorsConfig } from '../policies/cors-core.js';

/** A valid HTTP header (and query parameter) name: an RFC 9110 token. */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;

/** A RequestHeaderModifier or ResponseHeaderModifier: names lowercased. */
export interface HeaderModifier {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

/** How a redirect or rewrite changes the path: the whole of it, or the matched prefix. */
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

/** A parsed filter, of a rule or of one backendRef. */
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
  | { readonly type: 'RequestMirror'; readonly backend: BackendRefSpec; readonly percent: number }
  | { readonly type: 'CORS'; readonly cors: CorsConfig };

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

/** Reads the `filters` of a rule or backendRef at `path`, with the spec's combination rules. */
export function readFilters(r: FieldReader, meta: ObjectMeta, parent: Json, path: string): FilterSpec[] {
  const out: FilterSpec[] = [];
  const counts = new Map<string, number>();
  r.objs(parent, 'filters', path, { max: 16 }).forEach((f, i) => {
    const fp = `${path}.filters[${i}]`;
    const type = r.str(f, 'type', fp, {
      required: true,
      oneOf: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'CORS', 'ExtensionRef'],
    });
    if (!type) return;
    counts.set(type, (counts.get(type) ?? 0) + 1);
    if (type !== 'RequestMirror' && (counts.get(type) ?? 0) > 1) r.problem(fp, `${type} may appear only once per rule`);
    const key = type === 'URLRewrite' ? 'urlRewrite' : type === 'CORS' ? 'cors' : type.charAt(0).toLowerCase() + type.slice(1);
    const body = type === 'ExtensionRef' ? undefined : r.obj(f, key, fp, true);
    if (type === 'ExtensionRef') {
      r.problem(fp, 'ExtensionRef filters are not supported; attach weft.dev policies with targetRef instead');
      return;
    }
    if (!body) return;
    const bp = `${fp}.${key}`;
    switch (type) {
      case 'CORS':
        // Preflights are answered before a backend is chosen, so only a rule can carry it.
        if (path.includes('backendRefs')) r.problem(fp, 'a CORS filter belongs on the rule, not on a backendRef');
        else out.push({ type, cors: readCorsFilter(r, body, bp) });
        return;
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

/** Reads one backendRef (without its filters); `noWeight` for a mirror's, which has none. */
export function readBackendRef(r: FieldReader, meta: ObjectMeta, b: Json, path: string, noWeight = false): Omit<BackendRefSpec, 'filters'> {
  const group = r.str(b, 'group', path) ?? '';
  const kind = r.str(b, 'kind', path) ?? 'Service';
  const name = r.str(b, 'name', path, { required: true }) ?? '';
  const namespace = r.str(b, 'namespace', path) ?? meta.namespace;
  const port = r.int(b, 'port', path, { min: 1, max: 65535 });
  if (group === '' && kind === 'Service' && port === undefined) r.problem(`${path}.port`, 'is required when referring to a Service');
  const weight = noWeight ? 1 : r.int(b, 'weight', path, { min: 0, max: 1_000_000 }) ?? 1;
  return { group, kind, name, namespace, weight, ...(port === undefined ? {} : { port }) };
}
