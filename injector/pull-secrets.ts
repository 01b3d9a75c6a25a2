// The registry credentials an injected pod needs for weft's own image: the injector's
// imagePullSecrets added to the pod spec, never repeating a name the pod already lists.
import { isObject, type PatchOperation } from './json-patch.js';

/** JSON-patch operations that add each of `names` missing from the pod spec's imagePullSecrets. */
export function pullSecretOps(spec: Readonly<Record<string, unknown>>, names: readonly string[]): PatchOperation[] {
  if (names.length === 0) return [];
  const current = spec['imagePullSecrets'];
  if (!Array.isArray(current)) {
    return [{ op: 'add', path: '/spec/imagePullSecrets', value: [...new Set(names)].map((name) => ({ name })) }];
  }
  const have = new Set(current.map((r) => (isObject(r) ? r['name'] : undefined)));
  const ops: PatchOperation[] = [];
  for (const name of names) {
    if (have.has(name)) continue;
    have.add(name);
    ops.push({ op: 'add', path: '/spec/imagePullSecrets/-', value: { name } });
  }
  return ops;
}
