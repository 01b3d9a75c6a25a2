// Header hygiene for forwarding (pure): hop-by-hop headers never cross a proxy (RFC 9110 7.6.1),
// and weft's own headers are set only by weft.

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings']);

/** Header carrying the app port from the client sidecar to the server sidecar. */
export const DST_PORT_HEADER = 'weft-dst-port';
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
    if (HOP_BY_HOP.has(lower) || (listed.has(lower) && lower !== 'upgrade')) continue;
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
    if (value === undefined || drop.has(name) || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return Object.assign(out, add);
}
