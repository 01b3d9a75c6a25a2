// CORS decisions: whether an Origin is allowed, the preflight answer and the headers added to an
// actual response. Pure.

/** A parsed CorsPolicy. */
export interface CorsConfig {
  /** "*", exact origins, or "https://*.example.com" patterns. */
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  /** Lowercase; "*" allows any requested header. */
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds: number;
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
  return {
    status: 204,
    headers: {
      ...vary,
      'access-control-allow-origin': allowOriginValue(cfg, origin),
      'access-control-allow-methods': cfg.allowMethods.includes('*') ? method : cfg.allowMethods.join(', '),
      ...(asked.length > 0 ? { 'access-control-allow-headers': cfg.allowHeaders.includes('*') ? asked.join(', ') : cfg.allowHeaders.join(', ') } : {}),
      ...(cfg.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
      'access-control-max-age': String(cfg.maxAgeSeconds),
    },
  };
}

/** Headers added to an actual (non-preflight) response for an allowed Origin; {} otherwise. */
export function actualResponseHeaders(cfg: CorsConfig, origin: string | undefined): Record<string, string> {
  if (origin === undefined || !originAllowed(cfg, origin)) return {};
  return {
    'access-control-allow-origin': allowOriginValue(cfg, origin),
    vary: 'Origin',
    ...(cfg.exposeHeaders.length > 0 ? { 'access-control-expose-headers': cfg.exposeHeaders.join(', ') } : {}),
    ...(cfg.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
  };
}

// With credentials the browser refuses "*", so the origin is echoed instead.
function allowOriginValue(cfg: CorsConfig, origin: string): string {
  return cfg.allowOrigins.includes('*') && !cfg.allowCredentials ? '*' : origin;
}
