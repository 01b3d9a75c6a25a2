// The plan quota step: after the key or token named a Consumer, its plan's windows are counted
// under one key per (plan, consumer), whatever route of the plan the request took, and a request
// over any window is refused 429 with the IETF RateLimit headers and Retry-After.
import { CONTINUE, refusal, type Step, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { windowsFor, type Consumer, type Plan, type QuotaWindow } from '../consumers/directory.js';
import type { QuotaDecision } from './sliding-window.js';

/** Counts a plan's windows (the local SlidingWindowQuota). */
export interface QuotaCounter {
  /** Takes one request for `key` in every window (shortest first), all or nothing. */
  take(key: string, windows: readonly QuotaWindow[], nowMs: number): QuotaDecision;
}

/** The counting key of a consumer on a plan: every route the plan covers shares it. */
export function quotaKey(plan: Plan, consumer: Consumer): string {
  return `${plan.namespace}/${plan.name}|${consumer.name}`;
}

/** `RateLimit-Policy` of a plan: "100;w=60, 10000;w=86400". */
export function policyHeader(windows: readonly QuotaWindow[]): string {
  return windows.map((w) => `${w.requests};w=${Math.round(w.windowMs / 1000)}`).join(', ');
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
export function quotaStep(counter: QuotaCounter, clock: () => number): Step<Exchange> {
  return (x): StepResult => {
    const account = x.account;
    const windows = windowsFor(account, x.match?.rule.route);
    if (!account || !account.plan || windows.length === 0) return CONTINUE;
    const d = counter.take(quotaKey(account.plan, account), windows, clock());
    const headers = quotaHeaders(d, windows);
    if (d.allowed) {
      x.limitHeaders = headers;
      return CONTINUE;
    }
    Object.assign(headers, x.corsHeaders);
    const w = d.tightest.window;
    return refusal('WEFT_ERR_RATE_LIMITED', `consumer ${account.name} used its plan's ${w.requests} requests per ${w.name}`, headers, `Plan ${account.plan.namespace}/${account.plan.name}`);
  };
}
