// Header lists between Node's HTTP/1.1 server and undici's client (pure): undici hands over raw
// names and values as bytes, in the order and case the upstream sent them.
import { HOP_BY_HOP_HEADERS } from '../../mesh/headers.js';

/**
 * An upstream's raw response headers ([name, value, ...] as bytes) as Node's flat header list,
 * in order and case, minus hop-by-hop headers and the names its Connection header lists.
 */
export function responseRawHeaders(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = [];
  let listed: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower)) {
      if (lower === 'connection') listed = connectionTokens(latin1(raw[i + 1]), listed);
      continue;
    }
    out.push(name, latin1(raw[i + 1]));
  }
  // Rare (Connection naming an end-to-end header): a second pass only then.
  return listed === undefined ? out : dropNames(out, listed);
}

/** Raw trailers as the [name, value] pairs Node's `addTrailers` takes. */
export function trailerPairs(raw: readonly (Buffer | string)[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([String(raw[i]), latin1(raw[i + 1])]);
  return out;
}

/** A flat request header list without Expect (Node's server has answered 100 Continue already). */
export function withoutExpect(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] ?? '';
    if (name.toLowerCase() !== 'expect') out.push(name, headers[i + 1] ?? '');
  }
  return out;
}

// Header bytes are latin1 on both sides (Node writes header strings as latin1), so any byte
// the upstream sent goes back out unchanged.
function latin1(value: Buffer | string | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : value.toString('latin1');
}

// Names a Connection header lists beyond the hop-by-hop ones (which are dropped anyway).
function connectionTokens(value: string, into: string[] | undefined): string[] | undefined {
  let out = into;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && !HOP_BY_HOP_HEADERS.has(name)) (out ??= []).push(name);
  }
  return out;
}

function dropNames(headers: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] ?? '';
    if (!names.includes(name.toLowerCase())) out.push(name, headers[i + 1] ?? '');
  }
  return out;
}
