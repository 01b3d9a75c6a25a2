// The Gateway API `CORS` filter of the matched rule, run right after the match (before the IP
// list and the credential policies, since browsers send preflights without credentials) by the
// same step as CorsPolicy.
import { CONTINUE, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { applyCors } from '../policies/cors.js';

/** Answers a preflight for a rule with a CORS filter, or notes the headers of the actual response. */
export function corsFilter(x: Exchange): StepResult {
  const filters = x.match?.rule.filters;
  if (filters === undefined) return CONTINUE;
  for (const f of filters) if (f.type === 'CORS') return applyCors(x, f.cors, 'CORS filter');
  return CONTINUE;
}
