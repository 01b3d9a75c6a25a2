// The inbound prototype's HTTP/1.1 head parser (RFC 9112), pure: request and response heads,
// and the body framing each announces. Strict wherever a lenient reading would let two parsers
// (this one and the app's) disagree on where a message ends: bare LF or CR, obs-fold, whitespace
// before the colon, Content-Length with Transfer-Encoding, Content-Length lists that differ,
// a transfer coding other than chunked, lengths past 2^53.

/** Where a message body ends. */
export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  /** Response only: the body runs until the app closes the connection. */
  | { readonly kind: 'close' };

/** A request head, parsed. */
export interface RequestHead {
  readonly kind: 'request';
  readonly method: string;
  readonly target: string;
  /** Header fields as received, flat: name, value, name, value... (names keep their case). */
  readonly fields: readonly string[];
  /** Lower-case names, one per field, in the same order. */
  readonly lowerNames: readonly string[];
  readonly framing: Framing;
  /** Bytes of the head, the blank line included. */
  readonly size: number;
  /** The client asked to close the connection after this exchange. */
  readonly close: boolean;
  /** Lower-case header names the Connection header lists (hop-by-hop for this request). */
  readonly connectionTokens: readonly string[];
}

/** A response head, parsed only as far as framing needs. */
export interface ResponseHead {
  readonly kind: 'response';
  readonly status: number;
  /** A 1xx other than 101: another head follows for the same request. */
  readonly interim: boolean;
  readonly framing: Framing;
  readonly size: number;
  readonly close: boolean;
}

/** A head that must be refused; `status` is the answer (400, 431, 501, 505, or 502 for a response). */
export interface HeadError {
  readonly kind: 'error';
  readonly status: number;
  readonly reason: string;
}

/** Not all of the head has arrived. */
export interface Incomplete {
  readonly kind: 'incomplete';
}

const INCOMPLETE: Incomplete = { kind: 'incomplete' };
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: VCHAR, obs-text, SP, HTAB; any other control character is refused.
// eslint-disable-next-line no-control-regex -- these patterns exist to refuse control characters
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex -- these patterns exist to refuse control characters
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) (HTTP\/\d\.\d)$/;
// eslint-disable-next-line no-control-regex -- these patterns exist to refuse control characters
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3}) [^\x00-\x08\x0a-\x1f\x7f]*$/;
// 15 decimal digits stay below 2^53: a length this parser and any JavaScript app read alike.
const MAX_LENGTH_DIGITS = 15;

const fail = (status: number, reason: string): HeadError => ({ kind: 'error', status, reason });

// The head's text when its end is in `buf`; an error for a bare LF or an oversized head; else incomplete.
function headText(buf: Buffer, maxHead: number, tooLarge: number): string | HeadError | Incomplete {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    if (hasBareLf(buf, buf.length)) return fail(400, 'bare LF');
    return buf.length > maxHead ? fail(tooLarge, 'head too large') : INCOMPLETE;
  }
  if (end + 4 > maxHead) return fail(tooLarge, 'head too large');
  return buf.toString('latin1', 0, end);
}

function hasBareLf(buf: Buffer, end: number): boolean {
  for (let i = buf.indexOf(10); i >= 0 && i < end; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return true;
  return false;
}

// Splits the head into lines, refusing a bare LF or CR inside any of them.
function lines(text: string): string[] | HeadError {
  const out = text.split('\r\n');
  for (const line of out) if (line.includes('\n') || line.includes('\r')) return fail(400, line.includes('\n') ? 'bare LF' : 'bare CR');
  return out;
}

interface Fields {
  readonly fields: string[];
  readonly lowerNames: string[];
  lengths: string | undefined;
  codings: string[] | undefined;
  hosts: number;
  close: boolean;
  upgrade: boolean;
  connectionTokens: string[];
}

// The header section: name ":" OWS value OWS, each checked; framing-relevant fields gathered.
function parseFields(all: readonly string[], failStatus: number): Fields | HeadError {
  const f: Fields = { fields: [], lowerNames: [], lengths: undefined, codings: undefined, hosts: 0, close: false, upgrade: false, connectionTokens: [] };
  for (let i = 1; i < all.length; i++) {
    const line = all[i] ?? '';
    if (line.startsWith(' ') || line.startsWith('\t')) return fail(failStatus, 'obs-fold');
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) return fail(failStatus, colon < 0 ? 'field without a colon' : 'bad field name (whitespace before the colon?)');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) return fail(failStatus, `control character in ${name}`);
    const lower = name.toLowerCase();
    f.fields.push(name, value);
    f.lowerNames.push(lower);
    switch (lower) {
      case 'content-length': {
        for (const part of value.split(',')) {
          const n = part.trim();
          if (!/^\d+$/.test(n) || n.length > MAX_LENGTH_DIGITS) return fail(failStatus, 'bad Content-Length');
          const normal = String(Number(n));
          if (f.lengths !== undefined && f.lengths !== normal) return fail(failStatus, 'conflicting Content-Length');
          f.lengths = normal;
        }
        break;
      }
      case 'transfer-encoding':
        f.codings = [...(f.codings ?? []), ...value.split(',').map((c) => c.trim().toLowerCase())];
        break;
      case 'host':
        f.hosts += 1;
        break;
      case 'connection':
        for (const token of value.split(',')) {
          const t = token.trim().toLowerCase();
          if (t === 'close') f.close = true;
          if (t !== '') f.connectionTokens.push(t);
        }
        break;
      case 'upgrade':
        f.upgrade = true;
        break;
      default:
    }
  }
  return f;
}

/**
 * Parses the request head at the start of `buf` (RFC 9112 2-7). A refused head is answered with
 * its status and the connection closed: nothing after it can be trusted to start a request.
 */
export function parseRequestHead(buf: Buffer, maxHead = 16_384): RequestHead | HeadError | Incomplete {
  const text = headText(buf, maxHead, 431);
  if (typeof text !== 'string') return text;
  const all = lines(text);
  if (!Array.isArray(all)) return all;
  const m = REQUEST_LINE.exec(all[0] ?? '');
  if (!m) return fail(400, 'bad request line');
  const [, method = '', target = '', version = ''] = m;
  if (version !== 'HTTP/1.1') return fail(505, `${version} is not served`);
  const f = parseFields(all, 400);
  if ('kind' in f) return f;
  if (f.hosts !== 1) return fail(400, f.hosts === 0 ? 'no Host' : 'more than one Host');
  if (f.upgrade || method === 'CONNECT') return fail(501, 'upgrades and tunnels are not passed');
  let framing: Framing;
  if (f.codings !== undefined) {
    // RFC 9112 6.1: a request with both may be an attempt at smuggling; refused, not repaired.
    if (f.lengths !== undefined) return fail(400, 'Content-Length with Transfer-Encoding');
    if (f.codings[f.codings.length - 1] !== 'chunked') return fail(400, 'final transfer coding is not chunked');
    if (f.codings.length !== 1) return fail(501, 'transfer codings other than chunked');
    framing = { kind: 'chunked' };
  } else if (f.lengths !== undefined) {
    framing = f.lengths === '0' ? { kind: 'none' } : { kind: 'length', length: Number(f.lengths) };
  } else {
    framing = { kind: 'none' };
  }
  return { kind: 'request', method, target, fields: f.fields, lowerNames: f.lowerNames, framing, size: text.length + 4, close: f.close, connectionTokens: f.connectionTokens };
}

/**
 * Parses the app's response head at the start of `buf`, as far as knowing where the response
 * ends (RFC 9112 6.3): no body for HEAD, 1xx, 204 and 304; chunked; Content-Length; else until
 * close. A head whose framing is ambiguous is an error (answered 502, the app connection dropped).
 */
export function parseResponseHead(buf: Buffer, requestMethod: string, maxHead = 65_536): ResponseHead | HeadError | Incomplete {
  const text = headText(buf, maxHead, 502);
  if (typeof text === 'object') return text.kind === 'error' ? fail(502, text.reason) : text;
  const all = lines(text);
  if (!Array.isArray(all)) return fail(502, all.reason);
  const m = STATUS_LINE.exec(all[0] ?? '');
  if (!m) return fail(502, 'bad status line');
  const status = Number(m[2]);
  const http10 = m[1] === '0';
  const f = parseFields(all, 502);
  if ('kind' in f) return f;
  const size = text.length + 4;
  if (status === 101) return fail(502, 'an upgrade nobody asked for');
  if (status < 200) return { kind: 'response', status, interim: true, framing: { kind: 'none' }, size, close: false };
  const close = f.close || http10;
  if (requestMethod === 'HEAD' || status === 204 || status === 304) return { kind: 'response', status, interim: false, framing: { kind: 'none' }, size, close };
  if (f.codings !== undefined) {
    if (f.lengths !== undefined) return fail(502, 'Content-Length with Transfer-Encoding');
    // A final coding other than chunked is delimited by the close (RFC 9112 6.3 item 4).
    if (f.codings[f.codings.length - 1] !== 'chunked') return { kind: 'response', status, interim: false, framing: { kind: 'close' }, size, close: true };
    return { kind: 'response', status, interim: false, framing: { kind: 'chunked' }, size, close };
  }
  if (f.lengths !== undefined) return { kind: 'response', status, interim: false, framing: f.lengths === '0' ? { kind: 'none' } : { kind: 'length', length: Number(f.lengths) }, size, close };
  return { kind: 'response', status, interim: false, framing: { kind: 'close' }, size, close: true };
}
