// Reading collections from the test API server: label and field selection, and list with
// resourceVersion semantics and paging (limit/continue), as k8s.io/apiserver answers them.
import type { ServerResponse } from 'node:http';
import { labelsMatch, parseFieldSelector, parseLabelSelector, type FieldRequirement, type LabelSelector } from '../kube-selectors.js';
import type { ObjectStore } from './object-store.js';
import { apiVersionOf, keyOf, StatusError, type KubeObject, type ResourceDef } from './resources.js';
import { sendJson } from './wire.js';

/** Parses labelSelector and fieldSelector; 400 for a field the type does not index. */
export function selectors(q: URLSearchParams, def: ResourceDef): { labels: LabelSelector; fields: FieldRequirement[] } {
  const labels = parseLabelSelector(q.get('labelSelector') ?? '');
  if (typeof labels === 'string') throw new StatusError(400, 'BadRequest', `unable to parse requirement: ${labels}`);
  const fields = parseFieldSelector(q.get('fieldSelector') ?? '');
  if (typeof fields === 'string') throw new StatusError(400, 'BadRequest', fields);
  for (const f of fields) {
    if (f.field !== 'metadata.name' && f.field !== 'metadata.namespace' && !def.fields?.[f.field]) {
      throw new StatusError(400, 'BadRequest', `field label not supported: ${f.field}`);
    }
  }
  return { labels, fields };
}

/** True when obj is in namespace (if given) and matches both selectors. */
export function matches(def: ResourceDef, obj: KubeObject, namespace: string | undefined, labels: LabelSelector, fields: FieldRequirement[]): boolean {
  if (namespace !== undefined && obj.metadata.namespace !== namespace) return false;
  if (!labelsMatch(labels, obj.metadata.labels)) return false;
  return fields.every((f) => {
    const actual =
      f.field === 'metadata.name' ? obj.metadata.name
      : f.field === 'metadata.namespace' ? obj.metadata.namespace ?? ''
      : def.fields?.[f.field]?.(obj);
    return f.negate ? actual !== f.value : actual === f.value;
  });
}

/** GET of a collection: selectors, resourceVersion and resourceVersionMatch, limit and continue. */
export async function serveList(store: ObjectStore, res: ServerResponse, def: ResourceDef, namespace: string | undefined, q: URLSearchParams, maxPageSize = 0): Promise<void> {
  const { labels, fields } = selectors(q, def);
  const rvParam = q.get('resourceVersion') ?? '';
  const match = q.get('resourceVersionMatch') ?? '';
  const asked = Number(q.get('limit') ?? '0') || 0;
  // A real server may answer fewer items than the limit (with a continue token); never more.
  const limit = asked > 0 && maxPageSize > 0 ? Math.min(asked, maxPageSize) : asked;
  const cont = q.get('continue') ?? '';
  if (match !== '' && match !== 'Exact' && match !== 'NotOlderThan') {
    throw new StatusError(422, 'Invalid', `resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`);
  }
  if (match !== '' && rvParam === '') {
    throw new StatusError(422, 'Invalid', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided');
  }
  let listRv = store.rv;
  let start = 0;
  if (cont !== '') {
    let token: { rv?: unknown; start?: unknown };
    try {
      token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { rv?: unknown; start?: unknown };
    } catch {
      throw new StatusError(400, 'BadRequest', 'continue key is not valid: illegal base64 data');
    }
    listRv = Number(token.rv);
    start = Number(token.start);
    if (listRv < store.compactedRv) {
      throw new StatusError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
    }
  } else if (rvParam !== '' && rvParam !== '0') {
    if (!/^\d+$/.test(rvParam)) throw new StatusError(400, 'BadRequest', `resourceVersion: Invalid value: "${rvParam}": strconv.ParseUint: parsing "${rvParam}": invalid syntax`);
    const wanted = Number(rvParam);
    if (wanted > store.rv) {
      // The real server waits up to 3 s for its cache to catch up, then gives up with 504.
      if (!(await store.waitForRv(wanted, 3000))) {
        throw new StatusError(504, 'Timeout', `Too large resource version: ${wanted}, current: ${store.rv}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
        });
      }
      // Not older than what was asked: the state now, which the wait just brought up to it.
      listRv = store.rv;
    }
    if (match === 'Exact') {
      if (wanted < store.compactedRv) throw new StatusError(410, 'Expired', `too old resource version: ${wanted} (${store.compactedRv})`);
      listRv = wanted;
    }
  }
  const state = listRv === store.rv ? store.bucket(def) : store.stateAt(def, listRv);
  const items = [...state.values()]
    .filter((o) => matches(def, o, namespace, labels, fields))
    .sort((a, b) => keyOf(def, a.metadata.namespace, a.metadata.name ?? '').localeCompare(keyOf(def, b.metadata.namespace, b.metadata.name ?? '')));
  const page = limit > 0 ? items.slice(start, start + limit) : items.slice(start);
  const more = limit > 0 && start + limit < items.length;
  sendJson(res, 200, {
    kind: `${def.kind}List`,
    apiVersion: apiVersionOf(def),
    metadata: {
      resourceVersion: String(listRv),
      ...(more ? { continue: Buffer.from(JSON.stringify({ rv: listRv, start: start + limit })).toString('base64url'), remainingItemCount: items.length - start - limit } : {}),
    },
    // Items of a list carry no kind/apiVersion, as from the real server.
    items: page.map((o) => {
      const { apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    }),
  });
}
