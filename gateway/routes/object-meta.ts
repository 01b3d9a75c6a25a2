// What every parsed object carries (namespace, name, labels, age, where it was written) and the
// API group and class names the gateway's readers share.
import type { DocPlace, FieldReader, Json } from './field-reader.js';

/** The Gateway API group. */
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The gatewayClassName and ingressClassName weft serves. */
export const WEFT_CLASS = 'weft';

/** Identity of a namespaced object. */
export interface ObjectMeta {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** ms since epoch; absent timestamps sort as the file order (documents get increasing times). */
  readonly createdMs: number;
  /** metadata.generation (changes with the spec), when the object has one. */
  readonly generation?: number;
  readonly place: DocPlace;
}

/** Reads metadata; `docNo` stands in for age when there is no creationTimestamp. */
export function readMeta(r: FieldReader, md: Json, namespace: string, name: string, place: DocPlace, docNo: number): ObjectMeta {
  const labels: Record<string, string> = {};
  const l = r.obj(md, 'labels', 'metadata');
  if (l) for (const [k, v] of Object.entries(l)) if (typeof v === 'string') labels[k] = v;
  // Without a timestamp, file order stands in for age: document 1 is the oldest.
  let createdMs = docNo;
  const ts = md.creationTimestamp;
  if (ts !== undefined) {
    const ms = ts instanceof Date ? ts.getTime() : typeof ts === 'string' ? Date.parse(ts) : NaN;
    if (Number.isNaN(ms)) r.problem('metadata.creationTimestamp', 'is not an RFC 3339 time');
    else createdMs = ms;
  }
  const generation = typeof md.generation === 'number' ? md.generation : undefined;
  return { namespace, name, labels, createdMs, ...(generation === undefined ? {} : { generation }), place };
}
