// RFC 6902 JSON Patch operations as the injector emits them, RFC 6901 pointer escaping, and a
// small applier for the two operations we emit (`weft inject` applies patches without a library).

/** One JSON Patch operation; the injector only ever adds and replaces. */
export type PatchOperation =
  | { readonly op: 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'replace'; readonly path: string; readonly value: unknown };

/** Escapes one reference token: `~` becomes `~0` and `/` becomes `~1` (RFC 6901 section 3). */
export function escapePointerToken(token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Joins reference tokens into a pointer: pointer('metadata', 'annotations', 'weft.dev/x'). */
export function pointer(...tokens: readonly (string | number)[]): string {
  return tokens.map((t) => '/' + escapePointerToken(t)).join('');
}

/** Splits a pointer back into unescaped tokens. */
export function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`JSON pointer ${JSON.stringify(path)} does not start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Prefixes every operation's path, to apply a pod patch to a template nested in a workload. */
export function prefixOperations(prefix: string, ops: readonly PatchOperation[]): PatchOperation[] {
  return ops.map((o) => ({ ...o, path: prefix + o.path }));
}

/**
 * Applies add/replace operations to a deep copy of `doc` and returns the copy. Throws on a path
 * that does not exist, as RFC 6902 requires, so a wrong patch is never applied halfway.
 */
export function applyOperations<T>(doc: T, ops: readonly PatchOperation[]): T {
  const root = structuredClone(doc) as unknown;
  for (const o of ops) {
    const tokens = parsePointer(o.path);
    const last = tokens.pop();
    if (last === undefined) throw new Error('patching the document root is not supported');
    let parent: unknown = root;
    for (const t of tokens) {
      parent = child(parent, t, o.path);
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length || (o.op === 'replace' && index >= parent.length)) {
        throw new Error(`${o.op} ${o.path}: index ${last} is out of range`);
      }
      if (o.op === 'add') parent.splice(index, 0, structuredClone(o.value));
      else parent[index] = structuredClone(o.value);
    } else if (isObject(parent)) {
      if (o.op === 'replace' && !(last in parent)) throw new Error(`replace ${o.path}: no such member`);
      parent[last] = structuredClone(o.value);
    } else {
      throw new Error(`${o.op} ${o.path}: parent is not an object or array`);
    }
  }
  return root as T;
}

function child(parent: unknown, token: string, path: string): unknown {
  if (Array.isArray(parent)) {
    const v: unknown = parent[Number(token)];
    if (v === undefined) throw new Error(`${path}: no element ${token}`);
    return v;
  }
  if (isObject(parent) && token in parent) return parent[token];
  throw new Error(`${path}: no member ${JSON.stringify(token)}`);
}

/** A plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
