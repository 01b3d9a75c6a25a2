// The CORS decisions CorsPolicy and the Gateway API `CORS` filter share: whether an Origin is
// allowed, the preflight answer, the headers of an actual response, and the filter's parser. Pure.
import type { FieldReader, Json } from '../routes/field-reader.js';

/** A parsed CorsPolicy or Gateway API `CORS` filter. */
export interface CorsConfig {
  /** "*", exact origins, or "https://*.example.com" patterns. */
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  /** Lowercase; "*" allows any requested header. */
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds: number;
  /** The status of an allowed preflight: 204 (CorsPolicy, the default) or 200 (the Gateway API filter). */
  readonly preflightStatus?: number;
}

/** True when the Origin is allowed by the policy. */
export function originAllowed(cfg: CorsConfig, origin: string): boolean {
  return cfg.allowOrigins.some((o) => {
    if (o === '*') return true;
    const star = o.indexOf('://*.');
    if (star >= 0) {
      const scheme = o.slice(0, star + 3);
      const suffix = o.slice(star + 4); // ".example.com[:port]"
      return origin.startsWith(scheme) && origin.endsWith(suffix) && origin.length > scheme.length + suffix.length;
    }
    return o === origin;
  });
}

/** True for a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method). */
export function isPreflight(method: string, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return method === 'OPTIONS' && typeof headers.origin === 'string' && typeof headers['access-control-request-method'] === 'string';
}

/** The edge's answer to a preflight: 204 with the allow headers, or 403 when not allowed. */
export function preflightResponse(
  cfg: CorsConfig,
  origin: string,
  requestMethod: string,
  requestHeaders: string | undefined,
): { status: number; headers: Record<string, string> } {
  const vary = { vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' };
  if (!originAllowed(cfg, origin)) return { status: 403, headers: vary };
  const method = requestMethod.toUpperCase();
  if (!cfg.allowMethods.includes('*') && !cfg.allowMethods.includes(method) && !['GET', 'HEAD', 'POST'].includes(method)) return { status: 403, headers: vary };
  const asked = (requestHeaders ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
  if (!cfg.allowHeaders.includes('*') && asked.some((h) => !cfg.allowHeaders.includes(h))) return { status: 403, headers: vary };
  // No spreads: this runs per request, and the fields keep the order clients always saw.
  const headers: Record<string, string> = {
    vary: vary.vary,
    'access-control-allow-origin': allowOriginValue(cfg, origin),
    'access-control-allow-methods': cfg.allowMethods.includes('*') ? method : cfg.allowMethods.join(', '),
  };
  if (asked.length > 0) headers['access-control-allow-headers'] = cfg.allowHeaders.includes('*') ? asked.join(', ') : cfg.allowHeaders.join(', ');
  if (cfg.exposeHeaders.length > 0) headers['access-control-expose-headers'] = cfg.exposeHeaders.join(', ');
  if (cfg.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  headers['access-control-max-age'] = String(cfg.maxAgeSeconds);
  return { status: cfg.preflightStatus ?? 204, headers };
}

/** Headers added to an actual (non-preflight) response for an allowed Origin; {} otherwise. */
export function actualResponseHeaders(cfg: CorsConfig, origin: string | undefined): Record<string, string> {
  if (origin === undefined || !originAllowed(cfg, origin)) return {};
  const headers: Record<string, string> = { 'access-control-allow-origin': allowOriginValue(cfg, origin), vary: 'Origin' };
  if (cfg.exposeHeaders.length > 0) headers['access-control-expose-headers'] = cfg.exposeHeaders.join(', ');
  if (cfg.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  return headers;
}

// With credentials the browser refuses "*", so the origin is echoed instead.
function allowOriginValue(cfg: CorsConfig, origin: string): string {
  return cfg.allowOrigins.includes('*') && !cfg.allowCredentials ? '*' : origin;
}

/** Says why an allowOrigins entry is not "*", an origin, or an origin with a `*.` host wildcard. */
export function originProblem(o: string): string | undefined {
  if (o === '*' || /^https?:\/\/(\*\.)?[^/*]+$/.test(o)) return undefined;
  return `${JSON.stringify(o)} is not "*", an origin like https://app.example.com, or https://*.example.com`;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*'];

/** Reads a Gateway API HTTPCORSFilter (`cors:` of a `CORS` filter) at `path`; maxAge defaults to 5 s as the spec says. */
export function readCorsFilter(r: FieldReader, body: Json, path: string): CorsConfig {
  r.known(body, path, ['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'allowCredentials', 'maxAge']);
  const allowOrigins = r.strs(body, 'allowOrigins', path);
  allowOrigins.forEach((o, i) => {
    const p = originProblem(o);
    if (p) r.problem(`${path}.allowOrigins[${i}]`, p);
  });
  const allowMethods = r.strs(body, 'allowMethods', path).map((m) => m.toUpperCase());
  allowMethods.forEach((m, i) => {
    if (!METHODS.includes(m)) r.problem(`${path}.allowMethods[${i}]`, `${JSON.stringify(m)} is not an HTTP method or "*"`);
  });
  const allowHeaders = r.strs(body, 'allowHeaders', path).map((h) => h.toLowerCase());
  const exposeHeaders = r.strs(body, 'exposeHeaders', path);
  const allowCredentials = r.bool(body, 'allowCredentials', path) ?? false;
  const maxAgeSeconds = r.int(body, 'maxAge', path, { min: 1, max: 86_400 }) ?? 5;
  return { allowOrigins, allowMethods: allowMethods.length > 0 ? allowMethods : ['GET', 'HEAD', 'POST'], allowHeaders, exposeHeaders, allowCredentials, maxAgeSeconds, preflightStatus: 200 };
}
