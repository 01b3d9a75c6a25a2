// Objects that belong to another controller, found before anything is judged: Gateways of another
// GatewayClass, and HTTPRoutes and GRPCRoutes whose every parent is such a Gateway. The gateway neither reads,
// rejects nor reports them, so another team's objects can never stop weft's routes.
import { GATEWAY_API_GROUP, WEFT_CLASS } from './object-meta.js';

type Json = Record<string, unknown>;

function asObject(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

function metaOf(obj: Json, defaultNamespace: string): { name: string; namespace: string } {
  const md = asObject(obj.metadata) ?? {};
  return { name: typeof md.name === 'string' ? md.name : '', namespace: typeof md.namespace === 'string' ? md.namespace : defaultNamespace };
}

/** "namespace/name" of every Gateway whose gatewayClassName is set and is not weft's. */
export function foreignGateways(objects: readonly unknown[], defaultNamespace: string): ReadonlySet<string> {
  const out = new Set<string>();
  for (const v of objects) {
    const obj = asObject(v);
    if (!obj || obj.kind !== 'Gateway' || typeof obj.apiVersion !== 'string' || !obj.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`)) continue;
    const cls = asObject(obj.spec)?.gatewayClassName;
    if (typeof cls !== 'string' || cls === WEFT_CLASS) continue;
    const { name, namespace } = metaOf(obj, defaultNamespace);
    out.add(`${namespace}/${name}`);
  }
  return out;
}

/**
 * True for another class's Gateway, and for an HTTPRoute with at least one parent whose parents are
 * all such Gateways. A route naming a Gateway that does not exist (yet) is still weft's to judge.
 */
export function isForeignRoute(obj: Json, kind: string, namespace: string, foreign: ReadonlySet<string>): boolean {
  const { name } = metaOf(obj, namespace);
  if (kind === 'Gateway') return foreign.has(`${namespace}/${name}`);
  if ((kind !== 'HTTPRoute' && kind !== 'GRPCRoute') || foreign.size === 0) return false;
  const parents = asObject(obj.spec)?.parentRefs;
  if (!Array.isArray(parents) || parents.length === 0) return false;
  return parents.every((p) => {
    const ref = asObject(p);
    if (!ref || typeof ref.name !== 'string') return false;
    if ((ref.group ?? GATEWAY_API_GROUP) !== GATEWAY_API_GROUP || (ref.kind ?? 'Gateway') !== 'Gateway') return false;
    const ns = typeof ref.namespace === 'string' ? ref.namespace : namespace;
    return foreign.has(`${ns}/${ref.name}`);
  });
}
