// The mesh file's `authorization` section (docs/policy.md "Local mode"): checked with the policy
// parser, each policy's namespace defaulting to the mesh's, then copied into the endpoints file
// the sidecars watch.
import { WeftError, isWeftError } from '../../lib/errors.js';
import { parsePolicySection } from '../../mesh/authz/policy.js';

/** The section as the sidecars will read it (namespaces filled in), or undefined when absent. Throws WEFT_ERR_MESH_FILE. */
export function meshAuthorization(raw: unknown, namespace: string, source: string): unknown {
  if (raw === undefined || raw === null) return undefined;
  let section: unknown = raw;
  const policies = (raw as { policies?: unknown }).policies;
  if (typeof raw === 'object' && Array.isArray(policies)) {
    section = {
      ...raw,
      policies: policies.map((p: unknown) => {
        const o = p as { metadata?: Record<string, unknown> } | null;
        if (o === null || typeof o !== 'object' || (o.metadata && o.metadata.namespace !== undefined)) return p;
        return { ...o, metadata: { ...(o.metadata ?? {}), namespace } };
      }),
    };
  }
  try {
    parsePolicySection(section, source);
  } catch (err) {
    if (!isWeftError(err)) throw err;
    throw new WeftError('WEFT_ERR_MESH_FILE', err.message);
  }
  return section;
}
