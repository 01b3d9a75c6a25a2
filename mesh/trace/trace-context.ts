// W3C Trace Context level 1 (pure): parses and formats `traceparent`, checks `tracestate`. A header
// that breaks the rules is never an error for the client: it is dropped and a fresh trace starts.

/** The part of a `traceparent` a proxy continues: whose trace, which span is the parent, sampled or not. */
export interface ParentContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex digits, not all zero: the caller's span, the parent of ours. */
  readonly spanId: string;
  /** Bit 0 of the trace flags: the caller records this trace. */
  readonly sampled: boolean;
}

/** The request header names, lower case as Node gives them. */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
// version-traceid-parentid-flags; a later version may append fields after a dash (level 1, 4.3).
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
// tracestate keys: simple (lcalpha first) or multi-tenant tenant@system (level 1, 3.3.1.3).
const KEY_RE = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
// Printable ASCII but ',' and '='; the last character is not a space.
const VALUE_RE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_MEMBERS = 32;
// Level 1 lets a proxy drop a tracestate longer than 512 characters rather than truncate it.
const MAX_TRACESTATE = 512;

/**
 * The parent named by a `traceparent` header, or undefined when it is absent or breaks the rules:
 * several values, upper case, version ff, an all-zero id, or version 00 with trailing data.
 */
export function parseTraceparent(value: string | readonly string[] | undefined): ParentContext | undefined {
  if (typeof value !== 'string') return undefined; // absent, or repeated (an h2 array)
  const text = value.trim();
  const m = TRACEPARENT_RE.exec(text);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === undefined || traceId === undefined || spanId === undefined || flags === undefined) return undefined;
  if (version === 'ff') return undefined;
  if (version === '00' && rest !== undefined) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** The `traceparent` a hop sends on: version 00, its trace, its own span as the parent of the next. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/**
 * The `tracestate` to send on, or undefined to send none: kept as received (Node joins repeated
 * headers with commas, which the list format allows) when every member is well formed, keys are
 * unique, there are at most 32 members and 512 characters; dropped whole otherwise.
 */
export function checkTracestate(value: string | readonly string[] | undefined): string | undefined {
  const text = typeof value === 'string' ? value : value === undefined ? undefined : value.join(',');
  if (text === undefined || text.length > MAX_TRACESTATE) return undefined;
  const keys = new Set<string>();
  for (const raw of text.split(',')) {
    const member = raw.trim();
    if (member === '') continue; // empty list members are allowed and ignored
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (!KEY_RE.test(key) || !VALUE_RE.test(val) || keys.has(key)) return undefined;
    keys.add(key);
  }
  if (keys.size === 0 || keys.size > MAX_MEMBERS) return undefined;
  return text.trim();
}
