// The Gateway API filters as pure functions over plain values: header modifiers, redirects and
// URL rewrites. The server applies them; nothing here touches a socket.
import type { FilterSpec, HeaderModifier, PathMatch } from './resources.js';
import { replacePrefix } from './paths.js';

/** Header map in node's shape (lowercase names). */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Returns new headers after set (replace), add (append to any existing value) and remove. */
export function modifyHeaders(headers: Readonly<HeaderMap>, m: HeaderModifier): HeaderMap {
  const out: HeaderMap = { ...headers };
  for (const [name, value] of m.set) out[name] = value;
  for (const [name, value] of m.add) {
    const cur = out[name];
    out[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : `${cur},${value}`;
  }
  for (const name of m.remove) delete out[name];
  return out;
}

/** The parts of a request a redirect or rewrite reads. */
export interface UrlParts {
  readonly scheme: 'http' | 'https';
  /** Host without port. */
  readonly host: string;
  readonly path: string;
  /** Query string including "?", or "". */
  readonly search: string;
}

/** New path for ReplaceFullPath / ReplacePrefixMatch, given the match that selected the rule. */
export function rewritePath(path: string, modifier: Extract<FilterSpec, { type: 'URLRewrite' }>['path'], match: PathMatch): string {
  if (!modifier) return path;
  if (modifier.type === 'ReplaceFullPath') return modifier.value;
  return match.type === 'PathPrefix' ? replacePrefix(path, match.value, modifier.value) : path;
}

/**
 * The Location of a RequestRedirect. Port rules of the spec: an explicit port wins; otherwise a
 * changed scheme takes its well-known port, else the listener's port; 80 for http and 443 for
 * https are left out of the Location.
 */
export function redirectLocation(f: Extract<FilterSpec, { type: 'RequestRedirect' }>, req: UrlParts, listenerPort: number, match: PathMatch): string {
  const scheme = f.scheme ?? req.scheme;
  const host = f.hostname ?? req.host;
  const port = f.port ?? (f.scheme ? (f.scheme === 'https' ? 443 : 80) : listenerPort);
  const omitPort = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  const path = rewritePath(req.path, f.path, match);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${hostPart}${omitPort ? '' : `:${port}`}${path}${req.search}`;
}

/** Whether a mirror with `percent` fires, given a random number in [0, 1). */
export function mirrorFires(percent: number, random: () => number): boolean {
  return percent >= 100 || random() * 100 < percent;
}
