// What the gateway found wrong with one object it reads: the whole object left out (Rejected) or a
// part of it (Degraded: a listener without its certificate, an Ingress TLS entry without its
// Secret). Kept in each state so a status writer can report it; logged once per object version.

/** One object's finding. */
export interface ObjectCondition {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** metadata.generation of the version judged (absent in a route file). */
  readonly generation?: number;
  /** Rejected: the object is not used; Degraded: the object is used without the parts named. */
  readonly type: 'Rejected' | 'Degraded';
  /** Each "field.path: what is wrong". */
  readonly reasons: readonly string[];
  /** A rejected object whose previous accepted version keeps serving (kubernetes mode). */
  readonly servingPrevious?: boolean;
}

/** "Kind namespace/name", the key and the log label of an object. */
export function objectLabel(c: { readonly kind: string; readonly namespace: string; readonly name: string }): string {
  return `${c.kind} ${c.namespace}/${c.name}`;
}
