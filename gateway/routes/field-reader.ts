// A small typed reader over parsed YAML that records every problem with its file, document and
// field path instead of throwing, so a bad file lists all of its problems at once.

/** Where a document came from, for messages: file path, 1-based document number, kind/name. */
export interface DocPlace {
  readonly file: string;
  /** 1-based position of the document in the multi-document file. */
  readonly doc: number;
  readonly what: string;
}

/** Collects problems for one file, and per document, so one object can be rejected alone. */
export class ProblemList {
  readonly #items: string[] = [];
  readonly #byDoc = new Map<number, string[]>();

  add(place: DocPlace, path: string, message: string): void {
    this.#items.push(`${place.file}: document ${place.doc} (${place.what}): ${path}: ${message}`);
    const list = this.#byDoc.get(place.doc);
    if (list) list.push(`${path}: ${message}`);
    else this.#byDoc.set(place.doc, [`${path}: ${message}`]);
  }

  /** The problems of document `doc` ("field.path: message"), [] when it has none. */
  forDoc(doc: number): readonly string[] {
    return this.#byDoc.get(doc) ?? [];
  }

  addRaw(message: string): void {
    this.#items.push(message);
  }

  get items(): readonly string[] {
    return this.#items;
  }
}

/** A plain object from YAML. */
export type Json = Record<string, unknown>;

/** Reads fields of one document, reporting to a ProblemList. */
export class FieldReader {
  readonly #problems: ProblemList;
  readonly place: DocPlace;

  constructor(problems: ProblemList, place: DocPlace) {
    this.#problems = problems;
    this.place = place;
  }

  problem(path: string, message: string): void {
    this.#problems.add(this.place, path, message);
  }

  /** The problems recorded for this reader's document so far ("field.path: message"). */
  get problems(): readonly string[] {
    return this.#problems.forDoc(this.place.doc);
  }

  /** An object field; undefined (with a problem if required) when absent or of another type. */
  obj(parent: Json, key: string, path: string, required = false): Json | undefined {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (required) this.problem(join(path, key), 'is required');
      return undefined;
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problem(join(path, key), `must be an object, not ${describe(v)}`);
      return undefined;
    }
    return v as Json;
  }

  /** An array field of objects; [] when absent. */
  objs(parent: Json, key: string, path: string, opts: { required?: boolean; max?: number } = {}): Json[] {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (opts.required) this.problem(join(path, key), 'is required');
      return [];
    }
    if (!Array.isArray(v)) {
      this.problem(join(path, key), `must be a list, not ${describe(v)}`);
      return [];
    }
    if (opts.max !== undefined && v.length > opts.max) this.problem(join(path, key), `has ${v.length} entries; at most ${opts.max} are allowed`);
    const out: Json[] = [];
    v.forEach((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) this.problem(`${join(path, key)}[${i}]`, `must be an object, not ${describe(item)}`);
      else out.push(item as Json);
    });
    return out;
  }

  /** An array field of strings; [] when absent. */
  strs(parent: Json, key: string, path: string): string[] {
    const v = parent[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.problem(join(path, key), `must be a list of strings, not ${describe(v)}`);
      return [];
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string') this.problem(`${join(path, key)}[${i}]`, `must be a string, not ${describe(item)}`);
      else out.push(item);
    });
    return out;
  }

  str(parent: Json, key: string, path: string, opts: { required?: boolean; oneOf?: readonly string[] } = {}): string | undefined {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (opts.required) this.problem(join(path, key), 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.problem(join(path, key), `must be a string, not ${describe(v)}`);
      return undefined;
    }
    if (opts.oneOf && !opts.oneOf.includes(v)) {
      this.problem(join(path, key), `${JSON.stringify(v)} is not one of ${opts.oneOf.join(', ')}`);
      return undefined;
    }
    return v;
  }

  int(parent: Json, key: string, path: string, opts: { required?: boolean; min?: number; max?: number } = {}): number | undefined {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (opts.required) this.problem(join(path, key), 'is required');
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.problem(join(path, key), `must be an integer, not ${describe(v)}`);
      return undefined;
    }
    if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
      this.problem(join(path, key), `${v} is outside ${opts.min ?? '-inf'}..${opts.max ?? 'inf'}`);
      return undefined;
    }
    return v;
  }

  bool(parent: Json, key: string, path: string): boolean | undefined {
    const v = parent[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.problem(join(path, key), `must be true or false, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** Reports fields the schema does not know (typos would otherwise be silently ignored). */
  known(parent: Json, path: string, keys: readonly string[]): void {
    for (const k of Object.keys(parent)) {
      if (!keys.includes(k)) this.problem(join(path, k), `unknown field (known: ${keys.join(', ')})`);
    }
  }
}

/** Joins a field path: join("spec.rules[0]", "matches") = "spec.rules[0].matches". */
export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}
