// The test API server's server-side apply (`application/apply-patch+yaml`, what Helm 4 sends by
// default) and the field ownership it decides on. Simplified from k8s.io/apiserver's fieldmanager:
// a field is a leaf path of the object (lists are atomic, no list-map keys), owned per manager;
// every write (create, update, patch, apply) makes its manager the owner of the fields it changed.
// An apply that changes a field another manager owns fails with 409 Conflict naming the field, as
// the real server does, unless `force=true`, which moves the field to the applier. Fields an
// applier applied before and leaves out now are removed unless another manager owns them.
import { clone, StatusError, type KubeObject } from './resources.js';

/** A field's path, kept as the JSON of its keys (keys may hold dots: label keys, data keys). */
type FieldPath = string;

/** ".data.roots.pem": how the real server names a field in a conflict. */
function shown(path: FieldPath): string {
  return '.' + (JSON.parse(path) as string[]).join('.');
}

/** Leaf paths of the fields a manager can own, with their JSON values. */
function leaves(obj: KubeObject): Map<FieldPath, string> {
  const out = new Map<FieldPath, string>();
  const walk = (v: unknown, keys: string[]): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) walk(inner, [...keys, k]);
      return;
    }
    out.set(JSON.stringify(keys), JSON.stringify(v));
  };
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'status') continue;
    if (k === 'metadata') {
      // Of the metadata, only labels and annotations are fields a client manages.
      const meta = v as KubeObject['metadata'];
      if (meta.labels) walk(meta.labels, ['metadata', 'labels']);
      if (meta.annotations) walk(meta.annotations, ['metadata', 'annotations']);
      continue;
    }
    walk(v, [k]);
  }
  return out;
}

function setPath(obj: Record<string, unknown>, path: FieldPath, json: string): void {
  const keys = JSON.parse(path) as string[];
  let at = obj;
  for (const k of keys.slice(0, -1)) {
    const next = at[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys[keys.length - 1] ?? ''] = JSON.parse(json) as unknown;
}

function deletePath(obj: Record<string, unknown>, path: FieldPath): void {
  const keys = JSON.parse(path) as string[];
  let at: unknown = obj;
  for (const k of keys.slice(0, -1)) {
    if (at === null || typeof at !== 'object') return;
    at = (at as Record<string, unknown>)[k];
  }
  if (at === null || typeof at !== 'object') return;
  delete (at as Record<string, unknown>)[keys[keys.length - 1] ?? ''];
  // An emptied labels or annotations map goes too, as the real server leaves none behind.
  if (keys[0] === 'metadata' && keys.length === 3 && Object.keys(at).length === 0) delete (obj['metadata'] as Record<string, unknown>)[keys[1] ?? ''];
}

/** Who owns which fields of each object (by uid), and the apply that honours it. */
export class FieldOwners {
  readonly #byUid = new Map<string, Map<string, Set<string>>>();
  /** Fields each manager set by apply, per object: the ones a later apply may remove. */
  readonly #applied = new Map<string, Map<string, Set<string>>>();

  #owners(uid: string): Map<string, Set<string>> {
    return this.#byUid.get(uid) ?? this.#byUid.set(uid, new Map()).get(uid) ?? new Map<string, Set<string>>();
  }

  /** After a create, update or non-apply patch: the manager owns every field the write changed. */
  recordWrite(manager: string, before: KubeObject | undefined, after: KubeObject): void {
    const uid = after.metadata.uid;
    if (uid === undefined) return;
    const old = before ? leaves(before) : new Map<string, string>();
    const changed = [...leaves(after)].filter(([p, v]) => old.get(p) !== v).map(([p]) => p);
    this.#take(uid, manager, changed);
  }

  #take(uid: string, manager: string, paths: readonly string[]): void {
    const owners = this.#owners(uid);
    for (const [m, set] of owners) if (m !== manager) for (const p of paths) set.delete(p);
    const mine = owners.get(manager) ?? owners.set(manager, new Set()).get(manager) ?? new Set<string>();
    for (const p of paths) mine.add(p);
  }

  /**
   * The object after `manager` applies `config` to `existing`; throws 409 Conflict when a field
   * it would change belongs to another manager and `force` is off.
   */
  apply(existing: KubeObject, config: KubeObject, manager: string, force: boolean): KubeObject {
    const uid = existing.metadata.uid ?? '';
    const owners = this.#owners(uid);
    const current = leaves(existing);
    const wanted = leaves(config);
    const conflicts: { manager: string; field: string }[] = [];
    for (const [path, value] of wanted) {
      if (current.get(path) === value) continue;
      for (const [m, set] of owners) if (m !== manager && set.has(path)) conflicts.push({ manager: m, field: shown(path) });
    }
    if (conflicts.length > 0 && !force) {
      throw new StatusError(409, 'Conflict', `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${conflicts.map((c) => `conflict with "${c.manager}": ${c.field}`).join('\n')}`, {
        ...(existing.metadata.name === undefined ? {} : { name: existing.metadata.name }),
        causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.field })),
      });
    }
    const next = clone(existing) as Record<string, unknown> & KubeObject;
    const previouslyApplied = this.#applied.get(uid)?.get(manager) ?? new Set<string>();
    for (const path of previouslyApplied) {
      if (wanted.has(path)) continue;
      const ownedElsewhere = [...owners].some(([m, set]) => m !== manager && set.has(path));
      if (!ownedElsewhere) deletePath(next, path);
    }
    for (const [path, value] of wanted) setPath(next, path, value);
    this.#take(uid, manager, [...wanted.keys()]);
    const applied = this.#applied.get(uid) ?? this.#applied.set(uid, new Map()).get(uid) ?? new Map<string, Set<string>>();
    applied.set(manager, new Set(wanted.keys()));
    return next;
  }

  /** After an apply created the object: the applier owns all it sent. */
  recordApplyCreate(manager: string, created: KubeObject, config: KubeObject): void {
    const uid = created.metadata.uid;
    if (uid === undefined) return;
    const wanted = [...leaves(config).keys()];
    this.#take(uid, manager, wanted);
    const applied = this.#applied.get(uid) ?? this.#applied.set(uid, new Map()).get(uid) ?? new Map<string, Set<string>>();
    applied.set(manager, new Set(wanted));
  }

  /** The fields each manager owns of one object (for tests and debugging). */
  ownersOf(uid: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [m, set] of this.#byUid.get(uid) ?? []) out[m] = [...set].map(shown).sort();
    return out;
  }
}

/** The manager of a write, as the real server names it: fieldManager, else the user agent's first word. */
export function managerOf(fieldManager: string | null, userAgent: string | undefined): string {
  if (fieldManager !== null && fieldManager !== '') return fieldManager;
  return (userAgent ?? 'unknown').split('/')[0] ?? 'unknown';
}
