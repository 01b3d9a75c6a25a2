// Extracts the Gateway API HTTPRoute and GRPCRoute conformance tests (their Go sources in a
// kubernetes-sigs/gateway-api checkout) into JSON fixtures and vendors the manifests they apply.
//
// Run with Node 24 (type stripping), from the repository root:
//   node_modules/.bin/node scripts/gateway-conformance-extract.ts /work/.mirror/kubernetes-sigs+gateway-api/repo [commit]
// It reads the Go files with `git show <commit>:<path>` (a bare mirror is fine) and writes
// test/fixtures/gateway-api/{cases.json, conformance/...yaml}. Nothing is hand-written: a literal
// the small Go-expression reader below cannot evaluate is listed in `unreadable` with its reason.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const repo = process.argv[2];
if (!repo) throw new Error('usage: gateway-conformance-extract.ts <gateway-api git dir> [commit]');
const commit = execFileSync('git', ['-C', repo, 'rev-parse', process.argv[3] ?? 'HEAD'], { encoding: 'utf8' }).trim();
const show = (path: string): string => execFileSync('git', ['-C', repo, 'show', `${commit}:${path}`], { encoding: 'utf8', maxBuffer: 1 << 26 });
const list = (dir: string): string[] => execFileSync('git', ['-C', repo, 'ls-tree', '-r', '--name-only', commit, dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
const out = join(import.meta.dirname, '..', 'test', 'fixtures', 'gateway-api');

// ---- tokens ----
type Tok = { k: 'id' | 'str' | 'num' | 'p'; v: string; at: number };

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('//', i)) { i = src.indexOf('\n', i); if (i < 0) break; continue; }
    if (src.startsWith('/*', i)) { i = src.indexOf('*/', i) + 2; continue; }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (src[j] !== '"') {
        if (src[j] === '\\') {
          const e = src[j + 1] ?? '';
          s += ({ n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' } as Record<string, string>)[e] ?? `\\${e}`;
          j += 2;
        } else s += src[j++];
      }
      toks.push({ k: 'str', v: s, at: i });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      toks.push({ k: 'str', v: src.slice(i + 1, j), at: i });
      i = j + 1;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, i + 200));
    if (id) { toks.push({ k: 'id', v: id[0], at: i }); i += id[0].length; continue; }
    const num = /^[0-9][0-9_.xXa-fA-F]*/.exec(src.slice(i, i + 50));
    if (num) { toks.push({ k: 'num', v: num[0], at: i }); i += num[0].length; continue; }
    const op = /^(:=|&&|\|\||==|!=|<=|>=|\.\.\.|[-+*/%&|^<>=!(){}[\],;:.])/.exec(src.slice(i, i + 3));
    toks.push({ k: 'p', v: op ? op[0] : c, at: i });
    i += op ? op[0].length : 1;
  }
  return toks;
}

// ---- constants: Go string constants of the packages the tests name ----
const consts = new Map<string, unknown>();
function addConsts(pkgAliases: string[], path: string): void {
  for (const m of show(path).matchAll(/^\s*([A-Z]\w*)\s+(?:[\w.]+\s+)?=\s+"([^"]*)"/gm)) {
    for (const a of pkgAliases) consts.set(`${a}.${m[1]}`, m[2]);
  }
}
addConsts(['confsuite', 'suite'], 'conformance/utils/suite/consts.go');
for (const f of list('pkg/features/').filter((p) => p.endsWith('.go'))) addConsts(['features'], f);
for (const f of list('apis/v1/').filter((p) => /_types\.go$/.test(p))) addConsts(['v1', 'gatewayv1'], f);
consts.set('metav1.ConditionTrue', 'True');
consts.set('metav1.ConditionFalse', 'False');
consts.set('metav1.ConditionUnknown', 'Unknown');
consts.set('true', true);
consts.set('false', false);
consts.set('nil', null);
for (const [name, code] of Object.entries({ OK: 0, Canceled: 1, Unknown: 2, InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5, PermissionDenied: 7, Unimplemented: 12, Internal: 13, Unavailable: 14 })) consts.set(`codes.${name}`, code);
addConsts(['roundtripper'], 'conformance/utils/roundtripper/roundtripper.go');

class Unreadable extends Error {}

/** A `for _, x := range list` loop variable: a status call naming it is one check per element. */
class RangeOf {
  readonly items: readonly unknown[];
  constructor(items: readonly unknown[]) {
    this.items = items;
  }
}

/** Evaluates Go expressions of a test file: literals, composite literals, known constants, local `x := expr`. */
/** A literal reads a loop variable (`tc.host` in `for _, tc := range cases`): evaluate it once per element. */
class NeedsRange extends Error {
  readonly variable: string;
  readonly items: readonly unknown[];
  constructor(variable: string, items: readonly unknown[]) {
    super(`loop variable ${variable}`);
    this.variable = variable;
    this.items = items;
  }
}

class Reader {
  readonly toks: Tok[];
  /** Loop variables bound to one element while a literal is evaluated per element. */
  readonly bindings = new Map<string, unknown>();
  constructor(toks: Tok[]) { this.toks = toks; }

  /** The latest `name := expr` / `name = expr` before token index `before`, evaluated. */
  resolveLocal(name: string, before: number): unknown {
    for (let i = before - 1; i > 0; i--) {
      const t = this.toks[i];
      if (t?.k === 'id' && t.v === name && this.toks[i + 1]?.v === ':=' && this.toks[i + 2]?.v === 'range') {
        // `range xs {`: xs is a name (the brace opens the loop body, not a composite literal).
        const over = this.toks[i + 3];
        const list = over?.k === 'id' && this.toks[i + 4]?.v === '{' ? this.resolveLocal(over.v, i) : this.expr(i + 3)[0];
        if (!Array.isArray(list)) throw new Unreadable(`range over ${this.toks[i + 3]?.v ?? ''}, not a list`);
        return new RangeOf(list);
      }
      if (t?.k === 'id' && t.v === name && (this.toks[i + 1]?.v === ':=' || this.toks[i + 1]?.v === '=') && this.toks[i - 1]?.v !== '.') {
        return this.expr(i + 2)[0];
      }
    }
    throw new Unreadable(`identifier ${name} is neither a known constant nor a local assignment`);
  }

  /** Evaluates the expression at token i; returns [value, next index]. */
  expr(i: number): [unknown, number] {
    let [v, j] = this.unary(i);
    while (this.toks[j]?.v === '+') {
      const [w, k] = this.unary(j + 1);
      if (typeof v !== 'string' || typeof w !== 'string') throw new Unreadable('+ of non-strings');
      v = v + w;
      j = k;
    }
    return [v, j];
  }

  unary(i: number): [unknown, number] {
    const t = this.toks[i];
    if (!t) throw new Unreadable('end of file');
    if (t.k === 'str') return [t.v, i + 1];
    if (t.k === 'num') return [Number(t.v.replaceAll('_', '')), i + 1];
    if (t.v === '&') return this.unary(i + 1);
    if (t.v === '{') return this.composite(i, '');
    if (t.v === '[' || t.v === 'map' || t.v === '*') return this.typed(i);
    if (t.k === 'id') {
      let name = t.v;
      let j = i + 1;
      while (this.toks[j]?.v === '.' && this.toks[j + 1]?.k === 'id') { name += `.${this.toks[j + 1]?.v}`; j += 2; }
      if (this.toks[j]?.v === '{') return this.composite(j, name);
      if (this.toks[j]?.v === '(' ) {
        // Conversions keep the value: string(x), int32(x).
        if (['string', 'int', 'int32', 'int64', 'features.FeatureName'].includes(name) || /^(v1|gatewayv1)\.(Namespace|SectionName|ObjectName|PortNumber|Kind|Group|Hostname)$/.test(name)) {
          const [v, k] = this.expr(j + 1);
          if (this.toks[k]?.v !== ')') throw new Unreadable(`${name}(...) with more than one argument`);
          return [v, k + 1];
        }
        throw new Unreadable(`call ${name}(...)`);
      }
      if (this.toks[j]?.v === '[') throw new Unreadable(`generic or index expression ${name}[...]`);
      if (consts.has(name)) return [consts.get(name), j];
      const httpStatus = /^http\.Status(\w+)$/.exec(name);
      if (httpStatus) throw new Unreadable(`HTTP status constant ${name}`);
      if (!name.includes('.')) return [this.resolveLocal(name, i), j];
      // x.field of a loop variable over a list of struct literals.
      const [head = '', ...fields] = name.split('.');
      if (this.bindings.has(head)) {
        let v: unknown = this.bindings.get(head);
        for (const f of fields) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[f] : undefined;
        return [v, j];
      }
      if (/^[a-z]/.test(head)) {
        let local: unknown;
        try {
          local = this.resolveLocal(head, i);
        } catch {
          throw new Unreadable(`unknown identifier ${name}`);
        }
        if (local instanceof RangeOf) throw new NeedsRange(head, local.items);
      }
      throw new Unreadable(`unknown identifier ${name}`);
    }
    throw new Unreadable(`unexpected ${t.v}`);
  }

  /** A type then a composite literal: []T{...}, map[K]V{...}, *T... */
  typed(i: number): [unknown, number] {
    let j = i;
    let depth = 0;
    let type = '';
    while (j < this.toks.length) {
      const v = this.toks[j]?.v ?? '';
      if (v === 'struct' && this.toks[j + 1]?.v === '{') {
        // An anonymous struct type: its field list is part of the type, not the literal.
        let k = j + 1;
        let d = 0;
        do {
          if (this.toks[k]?.v === '{') d++;
          if (this.toks[k]?.v === '}') d--;
          k++;
        } while (d > 0 && k < this.toks.length);
        type += 'struct{...}';
        j = k;
        continue;
      }
      if (v === '{' && depth === 0) break;
      if (v === '[') depth++;
      if (v === ']') depth--;
      if (v === ',' || v === ')' || v === '}') throw new Unreadable(`type ${type} without a literal`);
      type += v;
      j++;
    }
    return this.composite(j, type);
  }

  /** `{ ... }` at i: an object (keyed elements) or an array; returns [value, index after }]. */
  composite(i: number, type: string): [unknown, number] {
    let j = i + 1;
    const keyed: Record<string, unknown> = {};
    const items: unknown[] = [];
    let isKeyed = false;
    while (this.toks[j]?.v !== '}') {
      let key: unknown;
      const [first, k] = this.elementOrKey(j);
      if (this.toks[k]?.v === ':') {
        isKeyed = true;
        key = first;
        const [val, k2] = this.expr(k + 1);
        keyed[String(key)] = val;
        j = k2;
      } else {
        items.push(first);
        j = k;
      }
      if (this.toks[j]?.v === ',') j++;
    }
    const empty = !isKeyed && items.length === 0;
    if (empty) return [type.startsWith('[]') ? [] : {}, j + 1];
    if (isKeyed && items.length > 0) throw new Unreadable('mixed keyed and unkeyed elements');
    return [isKeyed ? keyed : items, j + 1];
  }

  /** An element or a struct field name (a bare identifier followed by `:`). */
  elementOrKey(j: number): [unknown, number] {
    const t = this.toks[j];
    if (t?.k === 'id' && this.toks[j + 1]?.v === ':') return [t.v, j + 1];
    return this.expr(j);
  }
}

// ---- per test file ----
interface Extracted {
  shortName: string;
  file: string;
  features: string[];
  manifests: string[];
  cases: unknown[];
  statusChecks: unknown[];
  unreadable: { what: string; reason: string }[];
}

const STATUS_CALLS: Record<string, string[]> = {
  HTTPRouteMustHaveCondition: ['route', 'gateway', 'condition'],
  HTTPRouteMustHaveResolvedRefsConditionsTrue: ['route', 'gateway'],
  HTTPRouteMustHaveNoAcceptedParents: ['route'],
  GatewayMustHaveZeroRoutes: ['gateway'],
  HTTPRouteMustHaveLatestConditions: ['route'],
  GatewayMustHaveLatestConditions: ['gateway'],
  GatewayAndHTTPRoutesMustBeAccepted: ['controller', 'gatewayRef', '...routes'],
  GatewayAndRoutesMustBeAccepted: ['controller', 'gatewayRef', 'routeType', 'hasAddress', '...routes'],
  HTTPRouteMustHaveParents: ['route', 'parents', 'namespaceRequired'],
  GatewayStatusMustHaveListeners: ['gateway', 'listeners'],
};

function extract(file: string): Extracted {
  const src = show(file);
  const toks = tokenize(src);
  const r = new Reader(toks);
  const res: Extracted = { shortName: '', file, features: [], manifests: [], cases: [], statusChecks: [], unreadable: [] };
  const field = (name: string): number => toks.findIndex((t, i) => t.v === name && toks[i + 1]?.v === ':');
  const sn = field('ShortName');
  res.shortName = String(r.expr(sn + 2)[0]);
  const fe = field('Features');
  if (fe >= 0) res.features = r.expr(fe + 2)[0] as string[];
  const ma = field('Manifests');
  if (ma >= 0) res.manifests = r.expr(ma + 2)[0] as string[];
  const line = (at: number): number => src.slice(0, at).split('\n').length;

  /**
   * The request call a literal at [start, end) is sent by, and the gateway (ns/name) of the gwAddr
   * variable that call names: the call the literal is an argument of, else the first one after it.
   */
  const callOf = (start: number, end: number): { call?: string; gateway?: string; serverName?: string } => {
    const REQ = /^(Make\w*Request\w*|SendRPC)$/;
    // An argument: walk back to the unclosed "(" and the name before it.
    let depth = 0;
    for (let j = start - 1; j > 0 && j > start - 400; j--) {
      const v = toks[j]?.v;
      if (v === ')' || v === '}') depth++;
      if (v === '(' || v === '{') {
        if (depth === 0) {
          if (v === '(' && REQ.test(toks[j - 1]?.v ?? '')) return callAt(j - 1);
          break;
        }
        depth--;
      }
    }
    for (let j = end; j < toks.length; j++) if (toks[j]?.k === 'id' && REQ.test(toks[j]?.v ?? '') && toks[j + 1]?.v === '(') return callAt(j);
    return {};
  };
  /** The call at j: its name and the gateway of the gwAddr argument. */
  const callAt = (j: number): { call?: string; gateway?: string; serverName?: string } => {
    const call = toks[j]?.v ?? '';
    let depth = 0;
    let gateway: string | undefined;
    let serverName: string | undefined;
    for (let k = j + 2; k < toks.length; k++) {
      const v = toks[k]?.v;
      if (v === '(' || v === '{') depth++;
      if (v === ')' || v === '}') {
        if (depth === 0) break;
        depth--;
      }
      if (depth === 0 && toks[k]?.k === 'id' && /^gwAddr\w*$/.test(v ?? '')) gateway ??= gatewayOfAddr(v ?? '', j);
      // MakeTLSRequest...(..., serverName, expected): the argument before the last is the SNI.
      if (depth === 0 && v === ',' && call.startsWith('MakeTLS')) {
        try {
          const [arg, after] = r.expr(k + 1);
          if (typeof arg === 'string' && toks[after]?.v === ',') serverName = arg;
        } catch {
          // not a value this reader knows (a certificate, nil): not the server name
        }
      }
    }
    return { call, ...(gateway ? { gateway } : {}), ...(serverName ? { serverName } : {}) };
  };
  const gatewayOfAddr = (addrVar: string, before: number): string | undefined => {
    for (let i = before - 1; i > 0; i--) {
      if (toks[i]?.v === addrVar && (toks[i + 1]?.v === ':=' || toks[i + 1]?.v === '=')) {
        if (toks[i + 2]?.k === 'id' && /^gwAddr\w*$/.test(toks[i + 2]?.v ?? '')) return gatewayOfAddr(toks[i + 2]?.v ?? '', i);
        for (let j = i; j < i + 60; j++) {
          if (toks[j]?.v === 'NewGatewayRef' && toks[j + 1]?.v === '(') {
            try {
              const nn = r.expr(j + 2)[0] as { Name?: string; Namespace?: string };
              return `${nn.Namespace ?? ''}/${nn.Name ?? ''}`;
            } catch {
              return undefined;
            }
          }
        }
        return undefined;
      }
    }
    return undefined;
  };

  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    // http.ExpectedResponse{...} / []http.ExpectedResponse{...} / grpc.ExpectedResponse
    if (t?.k === 'id' && (t.v === 'http' || t.v === 'grpc') && toks[i + 1]?.v === '.' && toks[i + 2]?.v === 'ExpectedResponse') {
      const isSlice = toks[i - 1]?.v === ']' && toks[i - 2]?.v === '[';
      if (toks[i + 3]?.v !== '{') continue;
      const start = isSlice ? i - 2 : i;
      const what = `${res.shortName} ${t.v}.ExpectedResponse at ${file}:${line(t.at)}`;
      const evaluate = (): number => {
        const [v, end] = r.unary(start);
        const info = callOf(start, end);
        res.cases.push(...(isSlice ? (v as unknown[]) : [v]).map((c) => ({ ...(c as object), line: line(t.at), ...info })));
        return end;
      };
      try {
        try {
          i = evaluate() - 1;
        } catch (e) {
          if (!(e instanceof NeedsRange)) throw e;
          // One case per element of the loop the literal sits in.
          let end = i;
          for (const item of e.items) {
            r.bindings.set(e.variable, item);
            end = evaluate();
          }
          r.bindings.delete(e.variable);
          i = end - 1;
        }
      } catch (e) {
        r.bindings.clear();
        if (!(e instanceof Unreadable || e instanceof NeedsRange)) throw e;
        res.unreadable.push({ what, reason: e.message });
      }
      continue;
    }
    // kubernetes.<StatusCall>(t, client, timeouts, args...)
    if (t?.k === 'id' && t.v === 'kubernetes' && toks[i + 1]?.v === '.' && STATUS_CALLS[toks[i + 2]?.v ?? ''] && toks[i + 3]?.v === '(') {
      const fn = toks[i + 2]?.v ?? '';
      const names = STATUS_CALLS[fn] ?? [];
      const args: unknown[] = [];
      let j = i + 4;
      try {
        while (toks[j]?.v !== ')') {
          if (toks[j]?.v === 'kubernetes' && toks[j + 2]?.v === 'NewGatewayRef') {
            const [nn, k] = r.expr(j + 4);
            // NewGatewayRef(nn, listenerNames...): the listener names only narrow the address lookup.
            const extra: unknown[] = [];
            let m = k;
            while (toks[m]?.v === ',') { const [l, m2] = r.expr(m + 1); extra.push(l); m = m2; }
            args.push(extra.length > 0 ? { ...(nn as object), listeners: extra } : nn);
            j = m + 1;
          } else if (toks[j]?.k === 'id' && ['t', 'suite', 's'].includes(toks[j]?.v ?? '') && toks[j + 1]?.v !== ',' && toks[j + 1]?.v !== ')') {
            // suite.Client / suite.TimeoutConfig / suite.ControllerName: the harness's own values.
            args.push(`<${toks[j]?.v}.${toks[j + 2]?.v}>`);
            j += 3;
          } else if (toks[j]?.v === 't') {
            j++;
          } else if (toks[j]?.k === 'id' && toks[j + 1]?.v === '...') {
            const v = r.expr(j)[0];
            args.push(...(Array.isArray(v) ? (v as unknown[]) : [v]));
            j += 2;
          } else {
            const [v, k] = r.expr(j);
            args.push(v);
            j = k;
          }
          if (toks[j]?.v === ',') j++;
        }
        const own0 = args.filter((a) => !(typeof a === 'string' && a.startsWith('<')));
        const ranged = own0.findIndex((a) => a instanceof RangeOf);
        const variants = ranged < 0 ? [own0] : (own0[ranged] as RangeOf).items.map((item) => own0.map((a, k) => (k === ranged ? item : a)));
        for (const own of variants) {
          const named: Record<string, unknown> = { check: fn, line: line(t.at) };
          const fields = names[0] === 'controller' ? names.slice(1) : names;
          fields.forEach((n, k) => {
            if (n.startsWith('...')) named[n.slice(3)] = own.slice(k);
            else named[n] = own[k];
          });
          res.statusChecks.push(named);
        }
      } catch (e) {
        if (!(e instanceof Unreadable)) throw e;
        res.unreadable.push({ what: `${res.shortName} kubernetes.${fn} at ${file}:${line(t.at)}`, reason: e.message });
      }
    }
  }
  if (res.cases.length === 0 && /Make\w*Request|SendRPC|assertConsistent|WebSocketDialer/.test(src)) {
    res.unreadable.push({ what: `${res.shortName} requests`, reason: 'the test builds its requests from its own case type or code, not from ExpectedResponse literals' });
  }
  return res;
}

const files = list('conformance/tests/').filter((p) => /^conformance\/tests\/(httproute|grpcroute)-[^/]*\.go$/.test(p));
const tests = files.map(extract);
const manifests = new Set<string>(['conformance/base/manifests.yaml']);
for (const t of tests) for (const m of t.manifests) manifests.add(`conformance/${m}`);
for (const m of manifests) {
  const dest = join(out, m);
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, show(m));
}
writeFileSync(
  join(out, 'cases.json'),
  `${JSON.stringify({ repository: 'https://github.com/kubernetes-sigs/gateway-api', commit, generatedBy: 'scripts/gateway-conformance-extract.ts', tests }, null, 1)}\n`,
);
const unreadable = tests.flatMap((t) => t.unreadable);
console.log(`${tests.length} tests, ${tests.reduce((n, t) => n + t.cases.length, 0)} cases, ${tests.reduce((n, t) => n + t.statusChecks.length, 0)} status checks, ${unreadable.length} unreadable, ${manifests.size} manifests, commit ${commit}`);
for (const u of unreadable) console.log(`unreadable: ${u.what}: ${u.reason}`);
