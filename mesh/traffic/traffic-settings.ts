// The settings rows of balancing, retries and timeouts that `weft proxy` and `weft gateway` share,
// and what they become: the balancer's options, the budget's terms, the mesh-wide default policy.
import { SettingProblem, bool, durationMs, int, optional, setting, str, type SettingType } from '../../lib/config.js';
import { defaultBalanceOptions, type BalanceOptions } from '../balance/endpoint-health.js';
import type { RetryBudgetTerms } from './retry-budget.js';
import { parseRetryOn, type RequestTimeouts, type RetryPolicy } from './retry-policy.js';

// A list of statuses and gRPC status names, checked at start.
function retryOn(): SettingType<readonly string[]> {
  return {
    label: 'list of status, 5xx, gateway-error or gRPC status name',
    parse(raw, name) {
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      const parsed = parseRetryOn(items);
      return typeof parsed === 'string' ? new SettingProblem(`${name}: ${parsed}`) : items;
    },
    format: (v) => (v.length === 0 ? '(none)' : v.join(',')),
  };
}

/** Rows for docs/sidecar-config.md; the proxy's table takes them whole (the gateway the balance and budget rows). */
export const TRAFFIC_SETTINGS = {
  balanceEwma: setting({ name: 'WEFT_BALANCE_EWMA', type: bool(), default: true, doc: 'choose between two endpoints by Peak-EWMA latency times outstanding requests (else by outstanding requests alone); see [traffic.md](traffic.md#balancing-and-ejection)' }),
  failureAccrual: setting({ name: 'WEFT_FAILURE_ACCRUAL', type: int({ min: 0, max: 1000 }, 'failures'), default: 5, doc: 'consecutive failures (mesh errors, 5xx) that eject an endpoint; 0 turns ejection off' }),
  ejectionBaseMs: setting({ name: 'WEFT_EJECTION_BASE_MS', type: durationMs({ min: 1 }), default: 1_000, doc: 'first ejection time; each further ejection in a row doubles it' }),
  ejectionMaxMs: setting({ name: 'WEFT_EJECTION_MAX_MS', type: durationMs({ min: 1 }), default: 60_000, doc: 'longest ejection time' }),
  panicPercent: setting({ name: 'WEFT_PANIC_THRESHOLD_PERCENT', type: int({ min: 0, max: 100 }, 'percent'), default: 50, doc: 'when fewer than this share of endpoints is available, ejections are ignored' }),
  retryBudgetPercent: setting({ name: 'WEFT_RETRY_BUDGET_PERCENT', type: int({ min: 0, max: 1000 }, 'percent'), default: 20, doc: "retries may add at most this share of a service's original requests ([traffic.md](traffic.md#retries-and-the-budget))" }),
  retryBudgetMinPerSecond: setting({ name: 'WEFT_RETRY_BUDGET_MIN_PER_SECOND', type: int({ min: 0, max: 100_000 }, 'retries'), default: 10, doc: 'retries per second allowed on top of the share, whatever the traffic' }),
  retryBudgetTtlMs: setting({ name: 'WEFT_RETRY_BUDGET_TTL_MS', type: durationMs({ min: 100 }), default: 10_000, doc: 'how long a request or a retry counts toward the budget' }),
  retryAttempts: setting({ name: 'WEFT_RETRY_ATTEMPTS', type: int({ min: 0, max: 10 }, 'retries'), default: 0, doc: 'mesh-wide default: retries per request for services without a route retry policy; 0: no retries' }),
  retryOn: setting({ name: 'WEFT_RETRY_ON', type: retryOn(), default: [], doc: 'mesh-wide default: what is retried besides connect failures, e.g. `503,unavailable`' }),
  retryBackoffMs: setting({ name: 'WEFT_RETRY_BACKOFF_MS', type: durationMs({ min: 0 }), default: 25, doc: 'base pause before a retry; doubles per retry, jittered' }),
  retryBufferBytes: setting({ name: 'WEFT_RETRY_BUFFER_BYTES', type: int({ min: 0, max: 16 * 1024 * 1024 }, 'bytes'), default: 64 * 1024, doc: 'a request body is kept for a retry only up to this size; a larger one is never retried' }),
  routesFile: setting({ name: 'WEFT_ROUTES_FILE', type: optional(str('path')), default: undefined, mode: 'local', doc: 'local mode: mesh routes (HTTPRoutes whose parentRef is a Service), watched for changes; see [traffic.md](traffic.md#mesh-routes)' }),
  requestTimeoutMs: setting({ name: 'WEFT_REQUEST_TIMEOUT_MS', type: durationMs({ min: 0 }), default: 0, doc: 'mesh-wide default request timeout (retries included) for services without a route timeout; 0: none. A timeout answers 504 `WEFT_ERR_TIMEOUT` (gRPC `DEADLINE_EXCEEDED`)' }),
} as const;

/** The parsed traffic settings. */
export interface TrafficSettings {
  readonly balanceEwma: boolean;
  readonly failureAccrual: number;
  readonly ejectionBaseMs: number;
  readonly ejectionMaxMs: number;
  readonly panicPercent: number;
  readonly retryBudgetPercent: number;
  readonly retryBudgetMinPerSecond: number;
  readonly retryBudgetTtlMs: number;
  readonly retryAttempts: number;
  readonly retryOn: readonly string[];
  readonly retryBackoffMs: number;
  readonly retryBufferBytes: number;
  readonly requestTimeoutMs: number;
  /** Local mode: the mesh routes file. */
  readonly routesFile: string | undefined;
}

/** The settings as they are when no variable is set. */
export const DEFAULT_TRAFFIC_SETTINGS: TrafficSettings = Object.freeze({
  balanceEwma: TRAFFIC_SETTINGS.balanceEwma.default,
  failureAccrual: TRAFFIC_SETTINGS.failureAccrual.default,
  ejectionBaseMs: TRAFFIC_SETTINGS.ejectionBaseMs.default,
  ejectionMaxMs: TRAFFIC_SETTINGS.ejectionMaxMs.default,
  panicPercent: TRAFFIC_SETTINGS.panicPercent.default,
  retryBudgetPercent: TRAFFIC_SETTINGS.retryBudgetPercent.default,
  retryBudgetMinPerSecond: TRAFFIC_SETTINGS.retryBudgetMinPerSecond.default,
  retryBudgetTtlMs: TRAFFIC_SETTINGS.retryBudgetTtlMs.default,
  retryAttempts: TRAFFIC_SETTINGS.retryAttempts.default,
  retryOn: TRAFFIC_SETTINGS.retryOn.default,
  retryBackoffMs: TRAFFIC_SETTINGS.retryBackoffMs.default,
  retryBufferBytes: TRAFFIC_SETTINGS.retryBufferBytes.default,
  requestTimeoutMs: TRAFFIC_SETTINGS.requestTimeoutMs.default,
  routesFile: undefined,
});

/** Picks the traffic fields out of a parsed table that holds the rows above. */
export function trafficSettingsOf(v: TrafficSettings): TrafficSettings {
  return Object.freeze({
    balanceEwma: v.balanceEwma,
    failureAccrual: v.failureAccrual,
    ejectionBaseMs: v.ejectionBaseMs,
    ejectionMaxMs: v.ejectionMaxMs,
    panicPercent: v.panicPercent,
    retryBudgetPercent: v.retryBudgetPercent,
    retryBudgetMinPerSecond: v.retryBudgetMinPerSecond,
    retryBudgetTtlMs: v.retryBudgetTtlMs,
    retryAttempts: v.retryAttempts,
    retryOn: v.retryOn,
    retryBackoffMs: v.retryBackoffMs,
    retryBufferBytes: v.retryBufferBytes,
    requestTimeoutMs: v.requestTimeoutMs,
    routesFile: v.routesFile,
  });
}

/** The balancer's options from the settings. */
export function balanceOptionsOf(s: TrafficSettings, now: () => number): BalanceOptions {
  const base = defaultBalanceOptions(now);
  return {
    now,
    ewma: s.balanceEwma,
    decayMs: base.decayMs,
    defaultRttMs: base.defaultRttMs,
    failureThreshold: s.failureAccrual,
    ejectionBaseMs: s.ejectionBaseMs,
    ejectionMaxMs: Math.max(s.ejectionMaxMs, s.ejectionBaseMs),
    panicPercent: s.panicPercent,
  };
}

/** The retry budget's terms from the settings. */
export function budgetTermsOf(s: TrafficSettings): RetryBudgetTerms {
  return { ratio: s.retryBudgetPercent / 100, minPerSecond: s.retryBudgetMinPerSecond, ttlMs: s.retryBudgetTtlMs };
}

/** The mesh-wide default retry policy (undefined when retries are off). */
export function defaultRetryPolicyOf(s: TrafficSettings): RetryPolicy | undefined {
  if (s.retryAttempts === 0) return undefined;
  const on = parseRetryOn(s.retryOn);
  if (typeof on === 'string') return undefined; // refused when the settings were read
  return { attempts: s.retryAttempts, codes: on.codes, grpcStatuses: on.grpcStatuses, backoffMs: s.retryBackoffMs, nonIdempotent: false, bufferBytes: s.retryBufferBytes };
}

/** The mesh-wide default timeouts. */
export function defaultTimeoutsOf(s: TrafficSettings): RequestTimeouts {
  return { requestMs: s.requestTimeoutMs, backendRequestMs: 0 };
}
