// The plan quota step: after the key or token named a Consumer, its plan's windows are counted
// under one key per (plan, consumer), whatever route of the plan the request took, and a request
// over any window is refused 429 with the IETF RateLimit headers and Retry-After. The local
// backend answers at once; the Redis backend makes the chain wait for its script.
import { CONTINUE, refusal, wait, type Step, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { windowsFor, type Consumer, type Plan, type QuotaWindow } from '../consumers/directory.js';
import type { QuotaDecision } from './sliding-window.js';
import type { RedisTake } from './redis-quota.js';

/** Where plan quotas are counted. */
export type QuotaBackend =
  | { readonly kind: 'local'; take(key: string, windows: readonly QuotaWindow[], nowMs: number): QuotaDecision }
  | { readonly kind: 'redis'; take(key: string, windows: readonly QuotaWindow[], nowMs: number): Promise<RedisTake> };

/** The counting key of a consumer on a plan: every route the plan covers shares it. */
export function quotaKey(plan: Plan, consumer: Consumer): string {
  return `${plan.namespace}/${plan.name}|${consumer.name}`;
}

// A plan's windows are parsed once per configuration; their RateLimit-Policy text is written once
// for them too, not once per request.
const policyTexts = new WeakMap<readonly QuotaWindow[], string>();

/** `RateLimit-Policy` of a plan: "100;w=60, 10000;w=86400". */
export function policyHeader(windows: readonly QuotaWindow[]): string {
  let text = policyTexts.get(windows);
  if (text === undefined) {
    text = windows.map((w) => `${w.requests};w=${Math.round(w.windowMs / 1000)}`).join(', ');
    policyTexts.set(windows, text);
  }
  return text;
}

/** RateLimit-* headers (and Retry-After when refused) of a decision. */
export function quotaHeaders(d: QuotaDecision, windows: readonly QuotaWindow[]): Record<string, string> {
  const t = d.tightest;
  const headers: Record<string, string> = {
    'ratelimit-limit': String(t.window.requests),
    'ratelimit-remaining': String(t.remaining),
    'ratelimit-reset': String(t.resetSeconds),
    'ratelimit-policy': policyHeader(windows),
  };
  if (!d.allowed) headers['retry-after'] = String(t.resetSeconds);
  return headers;
}

/** The step: counts the request against its consumer's plan, when the plan covers the route. */
export function quotaStep(backend: QuotaBackend, clock: () => number): Step<Exchange> {
  return (x): StepResult => {
    const account = x.account;
    const windows = windowsFor(account, x.match?.rule.route);
    if (!account || !account.plan || windows.length === 0) return CONTINUE;
    const plan = account.plan;
    const key = quotaKey(plan, account);
    if (backend.kind === 'local') return answer(x, account, plan, windows, backend.take(key, windows, clock()));
    return wait(
      backend.take(key, windows, clock()).then((t): StepResult => {
        if (t.kind === 'counted') return answer(x, account, plan, windows, t.decision);
        return refusal('WEFT_ERR_QUOTA_UNAVAILABLE', 'the quota backend cannot answer and the gateway fails closed', x.corsHeaders, `Plan ${plan.namespace}/${plan.name}`);
      }),
    );
  };
}

function answer(x: Exchange, account: Consumer, plan: Plan, windows: readonly QuotaWindow[], d: QuotaDecision): StepResult {
  const headers = quotaHeaders(d, windows);
  if (d.allowed) {
    x.limitHeaders = headers;
    return CONTINUE;
  }
  Object.assign(headers, x.corsHeaders);
  const w = d.tightest.window;
  return refusal('WEFT_ERR_RATE_LIMITED', `consumer ${account.name} used its plan's ${w.requests} requests per ${w.name}`, headers, `Plan ${plan.namespace}/${plan.name}`);
}
