// Query parameter edits (rename, remove, set, add) over a raw query string. Pure. Parameters the
// edits do not touch keep their bytes exactly as the client sent them (their encoding, their
// order, "a" versus "a="), which URLSearchParams would not: it re-encodes the whole string.

/** The query edits of a TransformPolicy, applied in this order: rename, remove, set, add. */
export interface QueryEdits {
  /** Each parameter named `from` is named `to`; its value is kept as sent. */
  readonly rename: readonly (readonly [from: string, to: string])[];
  readonly remove: readonly string[];
  /** Replaces every parameter of the name with one (at the first one's place, else at the end). */
  readonly set: readonly (readonly [name: string, value: string])[];
  /** Appends a parameter, whatever is there already. */
  readonly add: readonly (readonly [name: string, value: string])[];
}

interface Param {
  /** Decoded name, for comparing. */
  readonly name: string;
  /** The pair as it will be written ("a=1", "a", "a="). */
  readonly raw: string;
}

// application/x-www-form-urlencoded decoding ("+" is a space); a malformed escape stays as written.
function decode(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

function encodePair(name: string, value: string): string {
  return `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

/** Whether any edit is configured (no edits: the query is never parsed). */
export function hasQueryEdits(e: QueryEdits): boolean {
  return e.rename.length + e.remove.length + e.set.length + e.add.length > 0;
}

/**
 * Applies `edits` to `search` ("" or "?..."), returning the new search ("" when no parameter is
 * left). Empty pieces ("a=1&&b=2") are dropped only when the string is rewritten anyway.
 */
export function editQuery(search: string, edits: QueryEdits): string {
  const params: Param[] = [];
  for (const raw of search.replace(/^\?/, '').split('&')) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    params.push({ name: decode(eq < 0 ? raw : raw.slice(0, eq)), raw });
  }
  let out = params;
  for (const [from, to] of edits.rename) {
    out = out.map((p) => {
      if (p.name !== from) return p;
      const eq = p.raw.indexOf('=');
      return { name: to, raw: encodeURIComponent(to) + (eq < 0 ? '' : p.raw.slice(eq)) };
    });
  }
  if (edits.remove.length > 0) out = out.filter((p) => !edits.remove.includes(p.name));
  for (const [name, value] of edits.set) {
    const first = out.findIndex((p) => p.name === name);
    const fresh: Param = { name, raw: encodePair(name, value) };
    if (first < 0) {
      out.push(fresh);
    } else {
      out = out.filter((p, i) => i === first || p.name !== name);
      out[first] = fresh;
    }
  }
  for (const [name, value] of edits.add) out.push({ name, raw: encodePair(name, value) });
  return out.length === 0 ? '' : `?${out.map((p) => p.raw).join('&')}`;
}
