// Header hygiene for forwarding (pure), the one list the proxy and the gateway share: hop-by-hop
// headers never cross a proxy (RFC 9110 7.6.1), and weft's own headers are set only by weft.

/**
 * Hop-by-hop headers: RFC 9110 7.6.1's list (Connection, Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding, Upgrade), the credentials a client addresses to a proxy rather than to the
 * origin (Proxy-Authorization, Proxy-Authenticate: the sidecar and the gateway are that proxy
 * and consume nothing of them, so they must not leak onward), Trailer, and HTTP2-Settings (h2c
 * upgrade). Names listed in a Connection header are dropped as well.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Whether `name` (lower case) with `value` may pass between HTTP/2 peers. HTTP/2 forbids the
 * connection-specific headers except `te: trailers` (RFC 9113 8.2.2), which gRPC sends end to end
 * to announce that it reads trailers, so that one value passes.
 */
function h2Passes(name: string, value: string | string[]): boolean {
  if (name === 'te') return value === 'trailers';
  return !HOP_BY_HOP_HEADERS.has(name);
}

/** Header carrying the app port from the client sidecar to the server sidecar. */
export const DST_PORT_HEADER = 'weft-dst-port';
/** Header carrying the destination service (ns/name:port) from the client sidecar, for the inbound side's service label. */
export const DST_SERVICE_HEADER = 'weft-dst-service';
/** Header the inbound side sets to the verified client identity. */
export const CLIENT_ID_HEADER = 'weft-client-id';

/**
 * Copies Node raw headers ([name, value, ...]) minus hop-by-hop ones, names listed in
 * Connection, and `drop`; then appends `add`. Keeps Connection/Upgrade when `upgrade` is set.
 */
export function forwardRawHeaders(
  raw: readonly string[],
  drop: ReadonlySet<string>,
  add: readonly (readonly [string, string])[],
  upgrade = false,
): string[] {
  const listed = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] ?? '').toLowerCase() === 'connection') {
      for (const token of (raw[i + 1] ?? '').split(',')) listed.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (drop.has(lower)) continue;
    if (upgrade && (lower === 'connection' || lower === 'upgrade')) {
      out.push(name, raw[i + 1] ?? '');
      continue;
    }
    if (HOP_BY_HOP_HEADERS.has(lower) || (listed.has(lower) && lower !== 'upgrade')) continue;
    out.push(name, raw[i + 1] ?? '');
  }
  for (const [name, value] of add) out.push(name, value);
  return out;
}

/** HTTP/2 header object minus connection-specific fields and `drop`, plus `add`. */
export function forwardH2Headers(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  drop: ReadonlySet<string>,
  add: Readonly<Record<string, string>>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || drop.has(name) || !h2Passes(name, value)) continue;
    out[name] = value;
  }
  return Object.assign(out, add);
}

/**
 * A header object (either server's request headers) minus hop-by-hop ones, names listed in
 * Connection, and HTTP/2 pseudo-headers: what the gateway sends on.
 */
export function endToEndHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[] | undefined> {
  const named = connectionListed(headers.connection);
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(':') || HOP_BY_HOP_HEADERS.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function connectionListed(value: string | string[] | undefined): Set<string> {
  const listed = new Set<string>();
  for (const token of String(value ?? '').split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '') listed.add(name);
  }
  return listed;
}

/**
 * Methods a proxy may send again, once, on a fresh connection when a reused pooled connection
 * was reset before any byte of answer: the safe GET, HEAD and OPTIONS (Go's net/http transport
 * resends only safe methods, or a request carrying an Idempotency-Key, in the same case). PUT and
 * DELETE are idempotent by RFC 9110 9.2.2, but the reset can come after the app acted and before
 * it answered, and an app whose PUT or DELETE has side effects beyond the resource (an audit
 * entry, an event, a DELETE that answers 404 the second time) would see them twice. Envoy and
 * Linkerd resend nothing at all unless a route's retry policy asks for it; weft keeps this one
 * narrow case because a pooled connection closed by the peer's idle timeout is routine.
 */
export const RETRY_SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request whose reused connection was reset before any answer may be sent again on a
 * fresh one: a retry-safe method without a body (a body already streamed cannot be replayed).
 */
export function mayResendAfterReset(method: string | undefined, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  if (!RETRY_SAFE_METHODS.has(method ?? '')) return false;
  if (headers['transfer-encoding'] !== undefined) return false;
  const length = headers['content-length'];
  return length === undefined || length === '0';
}
