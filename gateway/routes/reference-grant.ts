// Parses a ReferenceGrant: which namespaces' objects may refer to which kinds in its own.
import type { FieldReader, Json } from './field-reader.js';
import type { ObjectMeta } from './object-meta.js';

/** A parsed ReferenceGrant. */
export interface ReferenceGrantSpec {
  readonly meta: ObjectMeta;
  readonly from: readonly { group: string; kind: string; namespace: string }[];
  readonly to: readonly { group: string; kind: string; name?: string }[];
}

/** Reads a ReferenceGrant's spec. */
export function readGrant(r: FieldReader, meta: ObjectMeta, spec: Json): ReferenceGrantSpec {
  const from = r.objs(spec, 'from', 'spec', { required: true }).map((f, i) => ({
    group: r.str(f, 'group', `spec.from[${i}]`, { required: true }) ?? '',
    kind: r.str(f, 'kind', `spec.from[${i}]`, { required: true }) ?? '',
    namespace: r.str(f, 'namespace', `spec.from[${i}]`, { required: true }) ?? '',
  }));
  const to = r.objs(spec, 'to', 'spec', { required: true }).map((t, i) => {
    const name = r.str(t, 'name', `spec.to[${i}]`);
    return { group: r.str(t, 'group', `spec.to[${i}]`) ?? '', kind: r.str(t, 'kind', `spec.to[${i}]`, { required: true }) ?? '', ...(name ? { name } : {}) };
  });
  return { meta, from, to };
}
