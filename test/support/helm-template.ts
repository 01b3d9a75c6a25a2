// A small renderer for the subset of Helm's Go templates that charts/weft uses, so tests can
// render the chart with no helm binary and check the manifests it produces. It fails loudly on
// anything outside the subset (an unknown function, action or syntax) rather than guessing.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';

/** A value inside the template engine (what Go would hold as interface{}). */
export type TValue = unknown;

/** What `lookup` answers; tests pass objects to simulate an upgrade. */
export type LookupFn = (apiVersion: string, kind: string, namespace: string, name: string) => Record<string, unknown> | undefined;

/** Options of one render. */
export interface RenderOptions {
  readonly values: Record<string, unknown>;
  readonly releaseName?: string;
  readonly namespace?: string;
  readonly lookup?: LookupFn;
  /** The API server version `.Capabilities.KubeVersion.Version` reports (default v1.30.0). */
  readonly kubeVersion?: string;
}

/** One rendered template file: its path and the YAML documents it produced. */
export interface RenderedFile {
  readonly template: string;
  readonly text: string;
  readonly documents: readonly Record<string, unknown>[];
}

// ---- lexing the text into text and actions ----

type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipeline }
  | { t: 'if'; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { t: 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { t: 'range'; keyVar?: string; valVar?: string; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { t: 'define'; name: string; body: Node[] };

interface Pipeline {
  readonly decl?: { names: string[]; op: ':=' | '=' };
  readonly cmds: Expr[][];
}

type Expr =
  | { e: 'lit'; v: TValue }
  // base: 'dot', 'root' or the name of a variable.
  | { e: 'field'; base: string; path: string[] }
  | { e: 'ident'; name: string }
  | { e: 'sub'; pipe: Pipeline };

interface Action {
  readonly src: string;
}

function split(src: string, file: string): (string | Action)[] {
  const out: (string | Action)[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push(src.slice(i));
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    let close: number;
    if (src.slice(start).trimStart().startsWith('/*')) {
      close = src.indexOf('*/', start);
      if (close < 0) throw new Error(`${file}: unclosed comment`);
      close = src.indexOf('}}', close);
    } else {
      close = findClose(src, start, file);
    }
    if (close < 0) throw new Error(`${file}: unclosed action at ${open}`);
    let inner = src.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next));
      next += m ? m[0].length : 0;
    }
    out.push(text, { src: inner.trim() });
    i = next;
  }
  return out;
}

function findClose(src: string, from: number, file: string): number {
  let q: string | undefined;
  for (let i = from; i < src.length - 1; i++) {
    const c = src[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = undefined;
    } else if (c === '"' || c === '`') q = c;
    else if (c === '}' && src[i + 1] === '}') return i;
  }
  throw new Error(`${file}: unclosed action`);
}

// ---- parsing actions into a tree ----

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|,=]|[^\s()|,=]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src)) !== null) {
    if (m[1] !== undefined) tokens.push(m[1]);
    if (re.lastIndex >= src.length) break;
  }
  return tokens;
}

function parsePipeline(tokens: string[], pos: { i: number }): Pipeline {
  let decl: Pipeline['decl'];
  // `$a := ...`, `$a, $b := ...` (range) or `$a = ...`
  const look = tokens.slice(pos.i, pos.i + 4);
  if (look[0]?.startsWith('$') && (look[1] === ':=' || look[1] === '=')) {
    decl = { names: [look[0]], op: look[1] };
    pos.i += 2;
  } else if (look[0]?.startsWith('$') && look[1] === ',' && look[2]?.startsWith('$') && look[3] === ':=') {
    decl = { names: [look[0], look[2]], op: ':=' };
    pos.i += 4;
  }
  const cmds: Expr[][] = [[]];
  while (pos.i < tokens.length) {
    const tok = tokens[pos.i] as string;
    if (tok === ')') break;
    pos.i++;
    if (tok === '|') {
      cmds.push([]);
      continue;
    }
    const cmd = cmds[cmds.length - 1] as Expr[];
    if (tok === '(') {
      const pipe = parsePipeline(tokens, pos);
      if (tokens[pos.i] !== ')') throw new Error('missing )');
      pos.i++;
      cmd.push({ e: 'sub', pipe });
      continue;
    }
    cmd.push(parseOperand(tok));
  }
  return decl ? { decl, cmds } : { cmds };
}

function parseOperand(tok: string): Expr {
  if (tok.startsWith('"')) return { e: 'lit', v: JSON.parse(tok) as string };
  if (tok.startsWith('`')) return { e: 'lit', v: tok.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(tok)) return { e: 'lit', v: Number(tok) };
  if (tok === 'true' || tok === 'false') return { e: 'lit', v: tok === 'true' };
  if (tok === 'nil') return { e: 'lit', v: null };
  if (tok === '.') return { e: 'field', base: 'dot', path: [] };
  if (tok.startsWith('.')) return { e: 'field', base: 'dot', path: tok.slice(1).split('.') };
  if (tok.startsWith('$')) {
    const [name, ...path] = tok.split('.');
    return { e: 'field', base: name === '$' ? 'root' : (name as string), path };
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(tok)) return { e: 'ident', name: tok };
  throw new Error(`cannot parse operand ${JSON.stringify(tok)}`);
}

function pipelineOf(src: string): Pipeline {
  const tokens = tokenize(src);
  const pos = { i: 0 };
  const pipe = parsePipeline(tokens, pos);
  if (pos.i !== tokens.length) throw new Error(`unexpected ${tokens[pos.i]} in {{ ${src} }}`);
  return pipe;
}

function buildTree(parts: (string | Action)[], file: string): Node[] {
  let i = 0;
  const block = (enders: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < parts.length) {
      const p = parts[i++] as string | Action;
      if (typeof p === 'string') {
        if (p !== '') nodes.push({ t: 'text', text: p });
        continue;
      }
      const src = p.src;
      if (src.startsWith('/*')) continue;
      const word = /^(\w+)/.exec(src)?.[1] ?? '';
      const rest = src.slice(word.length).trim();
      if ((word === 'end' || word === 'else') && enders.includes(word)) return { nodes, end: src };
      if (word === 'if') {
        const branches: { cond: Pipeline; body: Node[] }[] = [];
        let cond = pipelineOf(rest);
        let otherwise: Node[] = [];
        for (;;) {
          const b = block(['else', 'end']);
          branches.push({ cond, body: b.nodes });
          if (b.end === 'end') break;
          const elseRest = b.end.slice(4).trim();
          if (elseRest.startsWith('if ')) {
            cond = pipelineOf(elseRest.slice(3));
            continue;
          }
          otherwise = block(['end']).nodes;
          break;
        }
        nodes.push({ t: 'if', branches, otherwise });
      } else if (word === 'with' || word === 'range') {
        const pipe = pipelineOf(rest);
        const b = block(['else', 'end']);
        const otherwise = b.end === 'end' ? [] : block(['end']).nodes;
        if (word === 'with') nodes.push({ t: 'with', pipe, body: b.nodes, otherwise });
        else {
          const names = pipe.decl?.names ?? [];
          const node: Node = { t: 'range', pipe: { cmds: pipe.cmds }, body: b.nodes, otherwise };
          if (names.length === 2) Object.assign(node, { keyVar: names[0], valVar: names[1] });
          else if (names.length === 1) Object.assign(node, { valVar: names[0] });
          nodes.push(node);
        }
      } else if (word === 'define') {
        const name = JSON.parse(rest) as string;
        nodes.push({ t: 'define', name, body: block(['end']).nodes });
      } else if (word === 'end' || word === 'else') {
        throw new Error(`${file}: unexpected {{ ${src} }}`);
      } else if (['template', 'block', 'break', 'continue'].includes(word)) {
        throw new Error(`${file}: {{ ${word} }} is outside the supported subset`);
      } else {
        nodes.push({ t: 'action', pipe: pipelineOf(src) });
      }
    }
    if (enders.length > 0) throw new Error(`${file}: missing {{ end }}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

// ---- evaluation ----

class Scope {
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

function fieldOf(v: TValue, key: string): TValue {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object') throw new Error(`cannot read .${key} of a ${typeof v}`);
  return (v as Record<string, TValue>)[key];
}

function str(v: TValue): string {
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

/** Renders a chart directory the way `helm template` would, for the supported subset. */
export class ChartRenderer {
  readonly #dir: string;
  readonly #defines = new Map<string, Node[]>();
  readonly #files: { name: string; tree: Node[] }[] = [];
  /** Chart.yaml, as Helm exposes it (.Chart.Name, .Chart.AppVersion, ...). */
  readonly chart: Record<string, TValue>;

  constructor(dir: string) {
    this.#dir = dir;
    const meta = parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, TValue>;
    this.chart = Object.fromEntries(Object.entries(meta).map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), v]));
    for (const name of readdirSync(join(dir, 'templates')).sort()) {
      if (!/\.(ya?ml|tpl)$/.test(name)) continue;
      const src = readFileSync(join(dir, 'templates', name), 'utf8');
      const tree = buildTree(split(src, name), name);
      for (const n of tree) if (n.t === 'define') this.#defines.set(n.name, n.body);
      if (!name.startsWith('_')) this.#files.push({ name: `templates/${name}`, tree });
    }
  }

  /** Default values merged with overrides (maps merge deeply, everything else replaces). */
  values(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const defaults = parseYaml(readFileSync(join(this.#dir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    return deepMerge(defaults, overrides);
  }

  /** Renders every template; each file's text is split into YAML documents. */
  render(opts: RenderOptions): RenderedFile[] {
    const root: Record<string, TValue> = {
      Values: opts.values,
      Release: { Name: opts.releaseName ?? 'weft', Namespace: opts.namespace ?? 'weft-system', Service: 'Helm', IsInstall: true, IsUpgrade: false },
      Chart: this.chart,
      Template: { BasePath: 'weft/templates' },
      Capabilities: { KubeVersion: { Version: opts.kubeVersion ?? 'v1.30.0' } },
    };
    const lookup: LookupFn = opts.lookup ?? (() => undefined);
    return this.#files.map((f) => {
      const text = this.#exec(f.tree, root, root, new Scope(), lookup);
      const documents: Record<string, unknown>[] = [];
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length > 0) throw new Error(`${f.name}: rendered YAML is invalid: ${doc.errors[0]?.message}\n${text}`);
        const js: unknown = doc.toJS();
        if (js !== null && js !== undefined) documents.push(js as Record<string, unknown>);
      }
      return { template: f.name, text, documents };
    });
  }

  #exec(nodes: Node[], dot: TValue, root: TValue, scope: Scope, lookup: LookupFn): string {
    let out = '';
    for (const n of nodes) {
      switch (n.t) {
        case 'text':
          out += n.text;
          break;
        case 'define':
          break;
        case 'action': {
          const v = this.#pipe(n.pipe, dot, root, scope, lookup);
          if (!n.pipe.decl) out += str(v);
          break;
        }
        case 'if': {
          const branch = n.branches.find((b) => truthy(this.#pipe(b.cond, dot, root, scope, lookup)));
          out += this.#exec(branch ? branch.body : n.otherwise, dot, root, new Scope(scope), lookup);
          break;
        }
        case 'with': {
          const v = this.#pipe(n.pipe, dot, root, scope, lookup);
          out += truthy(v) ? this.#exec(n.body, v, root, new Scope(scope), lookup) : this.#exec(n.otherwise, dot, root, new Scope(scope), lookup);
          break;
        }
        case 'range': {
          const v = this.#pipe(n.pipe, dot, root, scope, lookup);
          const entries: [TValue, TValue][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v).sort().map((k) => [k, (v as Record<string, TValue>)[k]])
              : [];
          if (entries.length === 0) out += this.#exec(n.otherwise, dot, root, new Scope(scope), lookup);
          for (const [k, x] of entries) {
            const s = new Scope(scope);
            if (n.keyVar) s.declare(n.keyVar, k);
            if (n.valVar) s.declare(n.valVar, x);
            out += this.#exec(n.body, x, root, s, lookup);
          }
          break;
        }
      }
    }
    return out;
  }

  #pipe(p: Pipeline, dot: TValue, root: TValue, scope: Scope, lookup: LookupFn): TValue {
    let acc: TValue = undefined;
    p.cmds.forEach((cmd, i) => {
      acc = this.#cmd(cmd, dot, root, scope, lookup, i === 0 ? [] : [acc]);
    });
    if (p.decl) {
      const name = p.decl.names[0] as string;
      if (p.decl.op === ':=') scope.declare(name, acc);
      else scope.assign(name, acc);
    }
    return acc;
  }

  #cmd(cmd: Expr[], dot: TValue, root: TValue, scope: Scope, lookup: LookupFn, piped: TValue[]): TValue {
    const [head, ...rest] = cmd;
    if (!head) throw new Error('empty command');
    const arg = (e: Expr): TValue => this.#operand(e, dot, root, scope, lookup);
    if (head.e !== 'ident') {
      if (rest.length > 0 || piped.length > 0) throw new Error('only functions take arguments');
      return arg(head);
    }
    // `and` and `or` short-circuit like Go's.
    if (head.name === 'and' || head.name === 'or') {
      let last: TValue = undefined;
      for (const e of [...rest.map((r) => () => arg(r)), ...piped.map((v) => () => v)]) {
        last = e();
        if (head.name === 'and' ? !truthy(last) : truthy(last)) return last;
      }
      return last;
    }
    const args = [...rest.map(arg), ...piped];
    return this.#call(head.name, args, root, lookup);
  }

  #operand(e: Expr, dot: TValue, root: TValue, scope: Scope, lookup: LookupFn): TValue {
    switch (e.e) {
      case 'lit':
        return e.v;
      case 'sub':
        return this.#pipe(e.pipe, dot, root, scope, lookup);
      case 'ident':
        return this.#call(e.name, [], root, lookup);
      case 'field': {
        let v: TValue = e.base === 'dot' ? dot : e.base === 'root' ? root : scope.get(e.base);
        for (const key of e.path) v = fieldOf(v, key);
        return v;
      }
    }
  }

  #call(name: string, a: TValue[], root: TValue, lookup: LookupFn): TValue {
    const s = (i: number): string => str(a[i]);
    switch (name) {
      case 'include': {
        const body = this.#defines.get(s(0));
        if (!body) throw new Error(`include of undefined template ${s(0)}`);
        return this.#exec(body, a[1], root, new Scope(), lookup);
      }
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
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
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
