// CorsPolicy: its parser, its step, and the CORS decisions: whether an Origin is allowed, the
// preflight answer and the headers added to an actual response.
import type { FieldReader, Json } from '../routes/field-reader.js';
import { answer, CONTINUE, refusal, type StepResult } from '../chain.js';
import { firstValue, type Named, type PolicyExchange, type PolicyModule } from './policy.js';

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
  // No spreads: this runs per request, and the fields keep the order clients always saw.
  const headers: Record<string, string> = {
    vary: vary.vary,
    'access-control-allow-origin': allowOriginValue(cfg, origin),
    'access-control-allow-methods': cfg.allowMethods.includes('*') ? method : cfg.allowMethods.join(', '),
  };
  if (asked.length > 0) headers['access-control-allow-headers'] = cfg.allowHeaders.includes('*') ? asked.join(', ') : cfg.allowHeaders.join(', ');
  if (cfg.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  headers['access-control-max-age'] = String(cfg.maxAgeSeconds);
  return { status: 204, headers };
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

/** Reads a CorsPolicy spec. */
export function parseCorsPolicy(spec: Json, r: FieldReader): CorsConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'allowCredentials', 'maxAgeSeconds']);
  const allowOrigins = r.strs(spec, 'allowOrigins', 'spec');
  if (allowOrigins.length === 0) r.problem('spec.allowOrigins', 'needs at least one origin ("*" for any)');
  allowOrigins.forEach((o, i) => {
    if (o !== '*' && !/^https?:\/\/(\*\.)?[^/*]+$/.test(o)) r.problem(`spec.allowOrigins[${i}]`, `${JSON.stringify(o)} is not "*", an origin like https://app.example.com, or https://*.example.com`);
  });
  const allowCredentials = r.bool(spec, 'allowCredentials', 'spec') ?? false;
  const cfg: CorsConfig = {
    allowOrigins,
    allowMethods: (r.strs(spec, 'allowMethods', 'spec').length > 0 ? r.strs(spec, 'allowMethods', 'spec') : ['GET', 'HEAD', 'POST']).map((m) => m.toUpperCase()),
    allowHeaders: r.strs(spec, 'allowHeaders', 'spec').map((h) => h.toLowerCase()),
    exposeHeaders: r.strs(spec, 'exposeHeaders', 'spec'),
    allowCredentials,
    maxAgeSeconds: r.int(spec, 'maxAgeSeconds', 'spec', { min: 0, max: 86_400 }) ?? 600,
  };
  return cfg;
}

/** Answers a preflight at the edge; for other requests, notes the headers every answer carries. */
export function corsStep(x: PolicyExchange, policy: Named<CorsConfig>): StepResult {
  const headers = x.req.headers;
  const origin = firstValue(headers.origin);
  if (isPreflight(x.req.method ?? '', headers)) {
    const a = preflightResponse(policy.value, origin ?? '', firstValue(headers['access-control-request-method']) ?? '', firstValue(headers['access-control-request-headers']));
    if (a.status !== 204) return refusal('WEFT_ERR_CORS_REJECTED', `preflight from ${origin} refused`, a.headers, policy.name);
    return answer(204, a.headers);
  }
  x.corsHeaders = actualResponseHeaders(policy.value, origin);
  return CONTINUE;
}

/** The CorsPolicy kind. */
export const corsPolicy: PolicyModule<CorsConfig> = { kind: 'CorsPolicy', parse: parseCorsPolicy, step: corsStep };
