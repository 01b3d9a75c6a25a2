// A small renderer for the subset of Helm's Go templates that charts/weft uses, so tests can
// render the chart with no helm binary and check the manifests it produces. It fails loudly on
// anything outside the subset (an unknown function, action or syntax) rather than guessing.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

// The parser and the built-in functions live in helm/; this file owns rendering a chart.
import { buildTree, split, type Expr, type Node, type Pipeline, type TValue } from './helm/template-parse.js';
import { callBuiltin, deepMerge, fieldOf, Scope, str, truthy, type LookupFn } from './helm/template-functions.js';

export type { TValue } from './helm/template-parse.js';
export { truthy, type LookupFn } from './helm/template-functions.js';

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
    if (name !== 'include') return callBuiltin(name, a, lookup);
    const body = this.#defines.get(str(a[0]));
    if (!body) throw new Error(`include of undefined template ${str(a[0])}`);
    return this.#exec(body, a[1], root, new Scope(), lookup);
  }
}
