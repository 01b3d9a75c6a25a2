// The retry and timeout engine's shared state in one process (proxy or gateway): a retry budget
// per service, the mesh-wide defaults, and the traffic metrics (retries by reason, budget
// exhaustion, ejections by endpoint, requests per route).
import { Counter, type Registry } from '../../lib/metrics-client.js';
import type { Endpoint } from '../discovery/endpoint-source.js';
import { RetryBudget, type RetryBudgetTerms } from './retry-budget.js';
import { RetryRun, type RequestTimeouts, type RetryPolicy } from './retry-policy.js';

/** The traffic counters, registered on the process's registry. */
export interface TrafficMetrics {
  readonly retries: Counter<'service' | 'reason'>;
  readonly budgetExhausted: Counter<'service'>;
  readonly ejections: Counter<'endpoint' | 'pod'>;
  readonly routeRequests: Counter<'service' | 'route'>;
}

/** Registers the traffic counters on `registry`. */
export function createTrafficMetrics(registry: Registry): TrafficMetrics {
  const registers = [registry];
  return {
    retries: new Counter({ name: 'weft_retries_total', help: 'Retries sent, by service and reason (connect, status_<code>, grpc_<status>, timeout, reset).', labelNames: ['service', 'reason'], registers }),
    budgetExhausted: new Counter({ name: 'weft_retry_budget_exhausted_total', help: 'Retries not sent because the service retry budget was used up.', labelNames: ['service'], registers }),
    ejections: new Counter({ name: 'weft_endpoint_ejections_total', help: 'Endpoints ejected by failure accrual, by endpoint address and pod.', labelNames: ['endpoint', 'pod'], registers }),
    routeRequests: new Counter({ name: 'weft_route_requests_total', help: 'Requests matched by a mesh route, by service and route name.', labelNames: ['service', 'route'], registers }),
  };
}

/** The engine's state: budgets by service, defaults, metrics. */
export class Traffic {
  readonly #terms: RetryBudgetTerms;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #budgets = new Map<string, RetryBudget>();
  readonly #metrics: TrafficMetrics;
  /** The mesh-wide default retry policy (undefined: no retries without a route policy). */
  readonly defaultPolicy: RetryPolicy | undefined;
  /** The mesh-wide default timeouts. */
  readonly defaultTimeouts: RequestTimeouts;

  constructor(opts: { terms: RetryBudgetTerms; defaultPolicy: RetryPolicy | undefined; defaultTimeouts: RequestTimeouts; metrics: TrafficMetrics; now: () => number; random: () => number }) {
    this.#terms = opts.terms;
    this.#now = opts.now;
    this.#random = opts.random;
    this.#metrics = opts.metrics;
    this.defaultPolicy = opts.defaultPolicy;
    this.defaultTimeouts = opts.defaultTimeouts;
  }

  /** The retry budget of `service` (ns/name:port), made on first use. */
  budget(service: string): RetryBudget {
    let budget = this.#budgets.get(service);
    if (!budget) {
      budget = new RetryBudget(this.#terms, this.#now);
      this.#budgets.set(service, budget);
    }
    return budget;
  }

  /** Starts one request's retry run against its service's budget. */
  run(service: string, policy: RetryPolicy): RetryRun {
    return new RetryRun(policy, this.budget(service), this.#random);
  }

  /** Counts a retry sent. */
  retried(service: string, reason: string): void {
    this.#metrics.retries.inc({ service, reason });
  }

  /** Counts a retry the budget refused. */
  exhausted(service: string): void {
    this.#metrics.budgetExhausted.inc({ service });
  }

  /** Counts an ejection (the balancer's onEject). */
  ejected(endpoint: Endpoint): void {
    this.#metrics.ejections.inc({ endpoint: `${endpoint.address}:${endpoint.port}`, pod: endpoint.podName ?? '' });
  }

  /** Counts a request matched by a route. */
  routed(service: string, route: string): void {
    this.#metrics.routeRequests.inc({ service, route });
  }

  /** Pauses before a retry: the caller's timer, so tests can drive it. */
  get random(): () => number {
    return this.#random;
  }
}
