// CorsPolicy: its parser and its step; the CORS decisions it shares with the Gateway API `CORS`
// filter are in cors-core.ts, and applyCors is the one step both run.
import type { FieldReader, Json } from '../routes/field-reader.js';
import { answer, CONTINUE, refusal, type StepResult } from '../chain.js';
import { firstValue, type Named, type PolicyExchange, type PolicyModule } from './policy.js';
import { actualResponseHeaders, isPreflight, originProblem, preflightResponse, type CorsConfig } from './cors-core.js';

export { actualResponseHeaders, isPreflight, originAllowed, preflightResponse, type CorsConfig } from './cors-core.js';

/** Reads a CorsPolicy spec. */
export function parseCorsPolicy(spec: Json, r: FieldReader): CorsConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'allowCredentials', 'maxAgeSeconds']);
  const allowOrigins = r.strs(spec, 'allowOrigins', 'spec');
  if (allowOrigins.length === 0) r.problem('spec.allowOrigins', 'needs at least one origin ("*" for any)');
  allowOrigins.forEach((o, i) => {
    const p = originProblem(o);
    if (p) r.problem(`spec.allowOrigins[${i}]`, p);
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

/**
 * The one CORS step (CorsPolicy and the `CORS` filter): answers a preflight at the edge (or
 * refuses it 403); for other requests, notes the headers every answer carries.
 */
export function applyCors(x: PolicyExchange, cfg: CorsConfig, name: string): StepResult {
  const headers = x.req.headers;
  const origin = firstValue(headers.origin);
  if (isPreflight(x.req.method ?? '', headers)) {
    const a = preflightResponse(cfg, origin ?? '', firstValue(headers['access-control-request-method']) ?? '', firstValue(headers['access-control-request-headers']));
    if (a.status === 403) return refusal('WEFT_ERR_CORS_REJECTED', `preflight from ${origin} refused`, a.headers, name);
    return answer(a.status, a.headers);
  }
  x.corsHeaders = actualResponseHeaders(cfg, origin);
  return CONTINUE;
}

/** CorsPolicy's step. */
export function corsStep(x: PolicyExchange, policy: Named<CorsConfig>): StepResult {
  return applyCors(x, policy.value, policy.name);
}

/** The CorsPolicy kind. */
export const corsPolicy: PolicyModule<CorsConfig> = { kind: 'CorsPolicy', parse: parseCorsPolicy, step: corsStep };
