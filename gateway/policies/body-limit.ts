// BodyLimitPolicy: its parser and its step. A declared Content-Length over the limit is refused
// here; a body without one is counted while it streams (the forward step enforces \`bodyLimit\`).
import type { FieldReader, Json } from '../routes/field-reader.js';
import { CONTINUE, refusal, type StepResult } from '../chain.js';
import { firstValue, type Named, type PolicyExchange, type PolicyModule } from './policy.js';

/** A parsed BodyLimitPolicy. */
export interface BodyLimitConfig {
  readonly maxBytes: number;
}

/** Reads a BodyLimitPolicy spec. */
export function parseBodyLimitPolicy(spec: Json, r: FieldReader): BodyLimitConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'maxBytes']);
  return { maxBytes: r.int(spec, 'maxBytes', 'spec', { required: true, min: 0 }) ?? 0 };
}

/** Refuses a declared body over the limit, and hands the limit to the forward step for the rest. */
export function bodyLimitStep(x: PolicyExchange, policy: Named<BodyLimitConfig>): StepResult {
  const maxBytes = policy.value.maxBytes;
  const declared = Number(firstValue(x.req.headers['content-length']) ?? NaN);
  if (declared > maxBytes) return refusal('WEFT_ERR_BODY_TOO_LARGE', `body of ${declared} bytes is over ${maxBytes}`, x.corsHeaders, policy.name);
  x.bodyLimit = policy;
  return CONTINUE;
}

/** The BodyLimitPolicy kind. */
export const bodyLimitPolicy: PolicyModule<BodyLimitConfig> = { kind: 'BodyLimitPolicy', parse: parseBodyLimitPolicy, step: bodyLimitStep };
