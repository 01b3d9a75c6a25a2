// Per-object admission in kubernetes mode: an object the gateway cannot use is left out alone,
// and when an earlier version of it was accepted that version keeps serving (an update that breaks
// one route never takes it, or anything else, down). Remembers each object's last accepted version
// and which findings were already logged, so a reason is logged once per object version.
import { objectLabel, type ObjectCondition } from '../routes/conditions.js';

/** A raw object from the API server. */
export type RawObject = Record<string, unknown>;

/** "Kind namespace/name" of a raw object, as objectLabel names its conditions. */
export function rawLabel(value: unknown): string {
  // A route file may hold empty documents (null): they get a label no object has.
  const o = (value !== null && typeof value === 'object' ? value : {}) as RawObject;
  const md = (o.metadata !== null && typeof o.metadata === 'object' ? o.metadata : {}) as Record<string, unknown>;
  const kind = typeof o.kind === 'string' ? o.kind : '?';
  const namespace = typeof md.namespace === 'string' ? md.namespace : 'default';
  const name = typeof md.name === 'string' ? md.name : '?';
  return objectLabel({ kind, namespace, name });
}

/** The bookkeeping of one source across its snapshots. */
export class ObjectAdmission {
  readonly #lastGood = new Map<string, RawObject>();
  readonly #logged = new Map<string, string>();
  #warned = new Set<string>();

  /**
   * The snapshot with each rejected object replaced by its last accepted version, and the labels
   * replaced; undefined when there is nothing to replace.
   */
  substitute(objects: readonly RawObject[], rejected: readonly ObjectCondition[]): { objects: RawObject[]; replaced: ReadonlySet<string> } | undefined {
    const replaced = new Set<string>();
    for (const c of rejected) {
      const label = objectLabel(c);
      if (c.type === 'Rejected' && this.#lastGood.has(label)) replaced.add(label);
    }
    if (replaced.size === 0) return undefined;
    return { objects: objects.map((o) => (replaced.has(rawLabel(o)) ? (this.#lastGood.get(rawLabel(o)) ?? o) : o)), replaced };
  }

  /** Remembers the accepted versions of this snapshot (everything not rejected) and forgets deleted objects. */
  remember(objects: readonly RawObject[], rejected: readonly ObjectCondition[]): void {
    const bad = new Set(rejected.filter((c) => c.type === 'Rejected').map(objectLabel));
    const present = new Set<string>();
    for (const o of objects) {
      const label = rawLabel(o);
      present.add(label);
      if (!bad.has(label)) this.#lastGood.set(label, o);
    }
    for (const label of [...this.#lastGood.keys()]) if (!present.has(label)) this.#lastGood.delete(label);
  }

  /** The conditions not logged before in this exact form (object version, reasons); forgets resolved ones. */
  fresh(conditions: readonly ObjectCondition[]): ObjectCondition[] {
    const out: ObjectCondition[] = [];
    const now = new Map<string, string>();
    for (const c of conditions) {
      const label = objectLabel(c);
      const signature = JSON.stringify([c.type, c.generation, c.servingPrevious, c.reasons]);
      now.set(`${c.type} ${label}`, signature);
      if (this.#logged.get(`${c.type} ${label}`) !== signature) out.push(c);
    }
    this.#logged.clear();
    for (const [k, v] of now) this.#logged.set(k, v);
    return out;
  }

  /** The warnings not in the previous snapshot (a rebuild for another object's change repeats none). */
  freshWarnings(warnings: readonly string[]): string[] {
    const out = warnings.filter((w) => !this.#warned.has(w));
    this.#warned = new Set(warnings);
    return out;
  }
}

