// JSON body edits by JSON Pointer (RFC 6901): parsing pointers and applying set / remove / rename
// to a parsed document. Pure: values in, values out; nothing here reads a stream.

/** A parsed JSON Pointer: its reference tokens, unescaped (~1 -> "/", ~0 -> "~"). */
export interface Pointer {
  /** The pointer as written, for messages. */
  readonly text: string;
  readonly tokens: readonly string[];
}

/** One edit, applied in the order written. */
export type JsonEdit =
  | { readonly op: 'set'; readonly path: Pointer; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: Pointer }
  | { readonly op: 'rename'; readonly path: Pointer; readonly to: Pointer };

/** A JSON value as JSON.parse gives it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** The edited document and the edits that found nothing to act on (their pointers, for the log). */
export interface EditOutcome {
  readonly value: unknown;
  readonly skipped: readonly string[];
}

/** Parses a JSON Pointer; a string is the problem when `text` is not one. */
export function parsePointer(text: string): Pointer | string {
  if (text === '') return { text, tokens: [] };
  if (!text.startsWith('/')) return 'must be "" or start with "/" (RFC 6901)';
  const tokens: string[] = [];
  for (const raw of text.slice(1).split('/')) {
    // "~" may only be followed by 0 or 1; anything else is not a pointer.
    if (/~(?![01])/.test(raw)) return `${JSON.stringify(raw)} has a "~" not followed by 0 or 1`;
    tokens.push(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return { text, tokens };
}

// An array index per RFC 6901: "0" or digits without a leading zero; "-" is "past the end".
function arrayIndex(token: string, length: number, forInsert: boolean): number | undefined {
  if (token === '-') return forInsert ? length : undefined;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const i = Number(token);
  return i < length || (forInsert && i === length) ? i : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The container a pointer's last token lives in, or undefined when the path does not exist.
// Own properties only: "__proto__" or "constructor" in a body is a member like any other.
function parentOf(doc: unknown, tokens: readonly string[]): unknown {
  let cur = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i] as string;
    if (Array.isArray(cur)) {
      const idx = arrayIndex(t, cur.length, false);
      if (idx === undefined) return undefined;
      cur = cur[idx];
    } else if (isObject(cur) && Object.hasOwn(cur, t)) {
      cur = cur[t];
    } else {
      return undefined;
    }
  }
  return cur;
}

// A member assignment that cannot reach Object.prototype (plain `o[k] = v` with k "__proto__" would).
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

// Detaches the value at `tokens`; undefined (and nothing changed) when there is none.
// `restore` puts it back where it was (an array element re-inserted, not overwritten).
function take(doc: unknown, tokens: readonly string[]): { value: unknown; restore: () => void } | undefined {
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) {
    const idx = arrayIndex(last, parent.length, false);
    if (idx === undefined) return undefined;
    const value: unknown = parent.splice(idx, 1)[0];
    return { value, restore: () => void parent.splice(idx, 0, value) };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const value = parent[last];
    delete parent[last];
    return { value, restore: () => put(parent, last, value) };
  }
  return undefined;
}

// Places `value` at `tokens`: an object member is created or replaced; an array index replaces
// that element, "-" (or the length) appends. False when the parent does not exist.
function place(doc: unknown, tokens: readonly string[], value: unknown): boolean {
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) {
    const idx = arrayIndex(last, parent.length, true);
    if (idx === undefined) return false;
    if (idx === parent.length) parent.push(value);
    else parent[idx] = value;
    return true;
  }
  if (isObject(parent)) {
    put(parent, last, value);
    return true;
  }
  return false;
}

// A fresh copy of a configured value, so one request's edits never reach another's document.
function copy(v: unknown): unknown {
  return v === null || typeof v !== 'object' ? v : (JSON.parse(JSON.stringify(v)) as unknown);
}

/**
 * Applies `edits` in order to `doc` (which it may change in place; pass a freshly parsed one).
 * An edit whose path does not exist (a missing member, an index out of range, a parent that is
 * not a container) does nothing and is listed in `skipped`; the others still apply.
 */
export function applyJsonEdits(doc: unknown, edits: readonly JsonEdit[]): EditOutcome {
  let value = doc;
  const skipped: string[] = [];
  for (const e of edits) {
    const tokens = e.path.tokens;
    switch (e.op) {
      case 'set':
        if (tokens.length === 0) value = copy(e.value);
        else if (!place(value, tokens, copy(e.value))) skipped.push(`set ${e.path.text}`);
        break;
      case 'remove':
        // The parser refuses the root here: removing the whole document leaves no JSON.
        if (tokens.length === 0 || !take(value, tokens)) skipped.push(`remove ${e.path.text}`);
        break;
      case 'rename': {
        const moved = tokens.length === 0 ? undefined : take(value, tokens);
        if (!moved) {
          skipped.push(`rename ${e.path.text}`);
        } else if (e.to.tokens.length === 0) {
          value = moved.value;
        } else if (!place(value, e.to.tokens, moved.value)) {
          // Put it back where it was, so a failed rename loses nothing.
          moved.restore();
          skipped.push(`rename ${e.path.text} -> ${e.to.text}`);
        }
        break;
      }
    }
  }
  return { value, skipped };
}

/** Whether a Content-Type names JSON: application/json or any type with a +json suffix. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return essence === 'application/json' || /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+\+json$/.test(essence);
}

/** Whether a body with this Content-Encoding is plain (no encoding, or identity) and so editable. */
export function isPlainEncoding(contentEncoding: string | undefined): boolean {
  return contentEncoding === undefined || contentEncoding.trim() === '' || contentEncoding.trim().toLowerCase() === 'identity';
}
