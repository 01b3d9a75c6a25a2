// The usage report: each consumer's use against every window of its plan, read from where the
// quotas are counted (Redis when it is the backend, else this replica), and the bounded labels
// that name a request's consumer and plan in the gateway's request metrics.
import type { ConsumerDirectory, Consumer } from '../consumers/directory.js';
import type { QuotaWindow } from '../consumers/directory.js';
import { quotaKey } from './quota-step.js';

/** One consumer's use of one window. */
export interface WindowUsage {
  readonly per: string;
  readonly limit: number;
  readonly used: number;
  readonly remaining: number;
}

/** One consumer's line of the report. */
export interface ConsumerUsage {
  readonly consumer: string;
  readonly namespace: string;
  readonly plan: string | undefined;
  readonly windows: readonly WindowUsage[];
}

/** The whole report. */
export interface UsageReport {
  /** Where the counts were read: `redis`, `local` (this replica), or `local-fallback` (Redis did not answer). */
  readonly source: 'redis' | 'local' | 'local-fallback';
  readonly consumers: readonly ConsumerUsage[];
}

/** Reads counts of a quota key; undefined when the source cannot answer. */
export type PeekUsage = (key: string, windows: readonly QuotaWindow[]) => Promise<readonly number[] | undefined>;

/** Builds the report from `remote` (Redis) when given and answering, else from `local`. */
export async function usageReport(dir: ConsumerDirectory, local: PeekUsage, remote: PeekUsage | undefined): Promise<UsageReport> {
  let source: UsageReport['source'] = remote ? 'redis' : 'local';
  const consumers: ConsumerUsage[] = [];
  for (const c of dir.consumers) {
    const plan = c.plan;
    if (!plan) {
      consumers.push({ consumer: c.name, namespace: c.namespace, plan: undefined, windows: [] });
      continue;
    }
    const key = quotaKey(plan, c);
    let used = remote && source === 'redis' ? await remote(key, plan.limits) : undefined;
    if (!used) {
      if (source === 'redis') source = 'local-fallback';
      used = (await local(key, plan.limits)) ?? plan.limits.map(() => 0);
    }
    const windows = plan.limits.map((w, i) => {
      const u = used[i] ?? 0;
      return { per: w.name, limit: w.requests, used: u, remaining: Math.max(0, w.requests - u) };
    });
    consumers.push({ consumer: c.name, namespace: c.namespace, plan: `${plan.namespace}/${plan.name}`, windows });
  }
  return { source, consumers };
}

/** Label of a request's consumer: a Consumer object's name, `unknown` for any other named caller, `-` for none. */
export function consumerLabel(account: Consumer | undefined, consumer: string | undefined): string {
  if (account) return account.name;
  return consumer ? 'unknown' : '-';
}

/** Label of a request's plan: "namespace/name", or `-`. */
export function planLabel(account: Consumer | undefined): string {
  const p = account?.plan;
  return p ? `${p.namespace}/${p.name}` : '-';
}
