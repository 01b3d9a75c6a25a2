// Evaluating the Go-template subset of test/support/helm-template.ts: scopes, Go's truth, and the
// Helm and Sprig functions charts/weft calls (each outside the subset is an error, not a guess).
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { TValue } from './template-parse.js';

/** What `lookup` answers; tests pass objects to simulate an upgrade. */
export type LookupFn = (apiVersion: string, kind: string, namespace: string, name: string) => Record<string, unknown> | undefined;

/** Template variables: each block opens a child scope. */
export class Scope {
  readonly #vars = new Map<string, TValue>();
  constructor(readonly parent?: Scope) {}
  declare(name: string, v: TValue): void {
    this.#vars.set(name, v);
  }
  assign(name: string, v: TValue): void {
    const s = this.#declaring(name);
    if (!s) throw new Error(`assignment to undeclared ${name}`);
    s.#vars.set(name, v);
  }
  get(name: string): TValue {
    const s = this.#declaring(name);
    if (!s) throw new Error(`undefined variable ${name}`);
    return s.#vars.get(name);
  }
  /** The innermost scope, this one or an enclosing one, that declares `name`. */
  #declaring(name: string): Scope | undefined {
    if (this.#vars.has(name)) return this;
    return this.parent ? this.parent.#declaring(name) : undefined;
  }
}

/** Go template truth: false, 0, nil, and empty strings, lists and maps are false. */
export function truthy(v: TValue): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** v.key, nil-safe as Go templates are; an error on a scalar. */
export function fieldOf(v: TValue, key: string): TValue {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object') throw new Error(`cannot read .${key} of a ${typeof v}`);
  return (v as Record<string, TValue>)[key];
}

/** A value as template output prints it. */
export function str(v: TValue): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return stringify(v).trimEnd();
}

function toYaml(v: TValue): string {
  if (v === undefined || v === null) return 'null';
  return stringify(v, { lineWidth: 0 }).replace(/\n$/, '');
}

function indentText(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return s.split('\n').map((l) => pad + l).join('\n');
}

function sprintf(fmt: string, args: TValue[]): string {
  let k = 0;
  return fmt.replace(/%[sdvq%]/g, (spec) => {
    if (spec === '%%') return '%';
    const a = args[k++];
    if (spec === '%q') return JSON.stringify(str(a));
    return str(a);
  });
}

const PLACEHOLDER_PEM = (what: string): string =>
  `-----BEGIN ${what}-----\nUExBQ0VIT0xERVIgRlJPTSBUSEUgVEVTVCBSRU5ERVJFUg==\n-----END ${what}-----\n`;

/** A built-in function other than include (which needs the renderer). */
export function callBuiltin(name: string, a: TValue[], lookup: LookupFn): TValue {
  const s = (i: number): string => str(a[i]);
  switch (name) {
    case 'nindent':
      return '\n' + indentText(Number(a[0]), s(1));
    case 'indent':
      return indentText(Number(a[0]), s(1));
    case 'toYaml':
      return toYaml(a[0]);
    case 'quote':
      return JSON.stringify(str(a[0]));
    case 'default':
      return truthy(a[1]) ? a[1] : a[0];
    case 'b64enc':
      return Buffer.from(s(0)).toString('base64');
    case 'trim':
      return s(0).trim();
    case 'printf':
      return sprintf(s(0), a.slice(1));
    case 'print':
      return a.map(str).join('');
    case 'dict': {
      const d: Record<string, TValue> = {};
      for (let i = 0; i + 1 < a.length; i += 2) d[s(i)] = a[i + 1];
      return d;
    }
    case 'list':
      return [...a];
    case 'append':
      return [...((a[0] as TValue[] | undefined) ?? []), a[1]];
    case 'join':
      return ((a[1] as TValue[] | undefined) ?? []).map(str).join(s(0));
    case 'not':
      return !truthy(a[0]);
    case 'eq':
      return a.slice(1).some((x) => x === a[0]);
    case 'ne':
      return a[0] !== a[1];
    case 'int':
      return Math.trunc(Number(a[0]));
    case 'gt':
      return Number(a[0]) > Number(a[1]);
    case 'hasPrefix':
      return s(1).startsWith(s(0));
    case 'splitList':
      return s(1).split(s(0));
    case 'has':
      return Array.isArray(a[1]) && a[1].includes(a[0]);
    case 'index': {
      let v = a[0];
      for (const k of a.slice(1)) v = fieldOf(v, str(k));
      return v;
    }
    case 'sha256sum':
      return createHash('sha256').update(s(0)).digest('hex');
    case 'lookup':
      return lookup(s(0), s(1), s(2), s(3)) ?? {};
    case 'genCA':
      return { Cert: PLACEHOLDER_PEM('CERTIFICATE'), Key: PLACEHOLDER_PEM('RSA PRIVATE KEY') };
    case 'genSignedCert':
      return { Cert: PLACEHOLDER_PEM('CERTIFICATE'), Key: PLACEHOLDER_PEM('RSA PRIVATE KEY'), dnsNames: a[2] };
    case 'semverCompare':
      return semverCompare(s(0), s(1));
    case 'required':
      if (!truthy(a[1])) throw new Error(`required: ${s(0)}`);
      return a[1];
    case 'fail':
      throw new Error(`fail: ${s(0)}`);
    default:
      throw new Error(`function ${name} is outside the supported subset`);
  }
}

/** Maps merge deeply; everything else replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Sprig's semverCompare for the ">=x.y.z-0" form the chart uses. */
function semverCompare(constraint: string, version: string): boolean {
  const m = /^>=\s*v?(\d+)\.(\d+)\.(\d+)(?:-0)?$/.exec(constraint);
  const v = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m || !v) throw new Error(`semverCompare ${constraint} ${version} is outside the supported subset`);
  for (let i = 1; i <= 3; i++) {
    const a = Number(v[i]);
    const b = Number(m[i]);
    if (a !== b) return a > b;
  }
  return true;
}
