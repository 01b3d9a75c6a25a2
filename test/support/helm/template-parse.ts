// Parsing the Go-template subset of test/support/helm-template.ts: the source split into text and
// actions, actions into pipelines of commands, and the parts nested into a tree.

/** A value inside the template engine (what Go would hold as interface{}). */
export type TValue = unknown;

// ---- lexing the text into text and actions ----

/** A parsed template: text, actions and control structures. */
export type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipeline }
  | { t: 'if'; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { t: 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { t: 'range'; keyVar?: string; valVar?: string; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { t: 'define'; name: string; body: Node[] };

/** `$x := a | b c`: an optional declaration and commands joined by pipes. */
export interface Pipeline {
  readonly decl?: { names: string[]; op: ':=' | '=' };
  readonly cmds: Expr[][];
}

/** One operand of a command. */
export type Expr =
  | { e: 'lit'; v: TValue }
  // base: 'dot', 'root' or the name of a variable.
  | { e: 'field'; base: string; path: string[] }
  | { e: 'ident'; name: string }
  | { e: 'sub'; pipe: Pipeline };

interface Action {
  readonly src: string;
}

/** The source as text and {{ action }} parts (trim markers applied). */
export function split(src: string, file: string): (string | Action)[] {
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

/** The parts nested into if/with/range/define blocks. */
export function buildTree(parts: (string | Action)[], file: string): Node[] {
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
