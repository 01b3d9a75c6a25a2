// Redaction of secrets in what the tap and the recent-failures ring show: header values and query
// parameter values whose names say they carry a credential are replaced, always.
import type { IncomingHttpHeaders } from 'node:http';

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

// Names that carry credentials: the standard ones, and the usual spellings of API keys, tokens
// and sessions (the gateway's API-key policy reads any header or query parameter the user names,
// so a name is judged by what it says, not by a fixed list alone).
const SECRET_NAMES = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'apikey', 'x-auth-token']);
const SECRET_PARTS = /(api[-_]?key|token|secret|passw(or)?d|session|auth|credential|signature|sig$)/i;

/** True when a header or query parameter named `name` may carry a credential. */
export function isSecretName(name: string): boolean {
  return SECRET_NAMES.has(name.toLowerCase()) || SECRET_PARTS.test(name);
}

/** The headers with every credential value replaced; pseudo-headers (h2 `:path`...) are left out. */
export function redactHeaders(headers: IncomingHttpHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const name of Object.keys(headers)) {
    if (name.startsWith(':')) continue;
    const value = headers[name];
    if (value === undefined) continue;
    out[name] = isSecretName(name) ? REDACTED : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The path with the values of credential-named query parameters replaced. */
export function redactPath(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const parts = path.slice(q + 1).split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // A malformed escape is judged as written.
    }
    if (eq >= 0 && isSecretName(decoded)) {
      parts[i] = `${name}=${REDACTED}`;
      changed = true;
    }
  }
  return changed ? `${path.slice(0, q)}?${parts.join('&')}` : path;
}
