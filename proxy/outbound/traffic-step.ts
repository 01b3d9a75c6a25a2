// The outbound side's retry and timeout step: for a request whose service has a retry policy or a
// timeout (a route's, or the mesh-wide default), builds what forwardRetrying needs; without
// either, the request takes the plain streaming path unchanged.
import type { Endpoint, ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import type { CompletedPick } from '../../mesh/balance/picker.js';
import type { ServiceBalancers } from '../../mesh/balance/service-balancers.js';
import { WeftError } from '../../lib/errors.js';
import type { Timers } from '../../lib/timers.js';
import type { Traffic } from '../../mesh/traffic/traffic.js';
import type { RequestTimeouts, RetryPolicy } from '../../mesh/traffic/retry-policy.js';
import type { Exchange } from '../exchange.js';
import type { ForwardHooks, Http1Upstream } from '../forward/http1.js';
import type { RetryingSpec } from '../forward/retrying-http1.js';
import type { RetryingH2Spec } from '../forward/retrying-http2.js';
import type { ClientHttp2Session } from 'node:http2';
import type { UpstreamLabel } from '../../mesh/rescue.js';

/** The retry policy and timeouts one request runs under. */
export interface TrafficPlan {
  readonly policy: RetryPolicy | undefined;
  readonly timeouts: RequestTimeouts;
}

/** The plan of a request to `service` with no route of its own: the mesh-wide defaults, or undefined when there are none. */
export function defaultPlan(traffic: Traffic | undefined): TrafficPlan | undefined {
  if (!traffic) return undefined;
  const policy = traffic.defaultPolicy;
  const timeouts = traffic.defaultTimeouts;
  if (!policy && timeouts.requestMs === 0 && timeouts.backendRequestMs === 0) return undefined;
  return { policy, timeouts };
}

/** What the step needs from the outbound side. */
export interface TrafficStepDeps {
  readonly traffic: Traffic;
  readonly balancers: ServiceBalancers;
  readonly timers: Timers;
  readonly now: () => number;
  readonly upstream: (endpoint: Endpoint) => Http1Upstream;
  readonly headers: (endpoint: Endpoint) => string[];
}

/** The spec forwardRetrying runs one HTTP/1.1 request with. */
export function retryingSpec(deps: TrafficStepDeps, plan: TrafficPlan, exchange: Exchange, service: ServiceRef, serviceName: string, first: CompletedPick): RetryingSpec {
  const { traffic } = deps;
  const run = plan.policy ? traffic.run(serviceName, plan.policy) : undefined;
  return {
    first,
    repick: (avoid) => {
      const picked = deps.balancers.get(service).picker.pick(avoid);
      return picked.type === 'complete' ? picked : picked.type === 'fail' ? picked.error : new WeftError('WEFT_ERR_NO_ENDPOINTS', `${serviceName} has no endpoint to retry on`);
    },
    upstream: deps.upstream,
    headers: deps.headers,
    run,
    timeouts: plan.timeouts,
    bufferBytes: plan.policy?.bufferBytes ?? 0,
    timers: deps.timers,
    now: deps.now,
    onAttempt: (endpoint) => {
      exchange.peer = endpoint.identity;
      exchange.endpoint = `${endpoint.address}:${endpoint.port}`;
    },
    onRetry: (reason) => traffic.retried(serviceName, reason),
    onExhausted: () => traffic.exhausted(serviceName),
  };
}

/** What the HTTP/2 retry step needs from the outbound side. */
export interface H2StepDeps {
  readonly traffic: Traffic;
  readonly balancers: ServiceBalancers;
  readonly timers: Timers;
  readonly now: () => number;
  readonly session: (endpoint: Endpoint) => ClientHttp2Session;
  readonly headers: (endpoint: Endpoint) => Record<string, string | string[]>;
  readonly label: (endpoint: Endpoint) => UpstreamLabel;
}

/** The spec forwardHttp2Retrying runs one HTTP/2 stream with. */
export function h2RetrySpec(deps: H2StepDeps, policy: RetryPolicy, exchange: Exchange, service: ServiceRef, serviceName: string, first: CompletedPick): RetryingH2Spec {
  const { traffic } = deps;
  return {
    first,
    repick: (avoid) => {
      const picked = deps.balancers.get(service).picker.pick(avoid);
      return picked.type === 'complete' ? picked : picked.type === 'fail' ? picked.error : new WeftError('WEFT_ERR_NO_ENDPOINTS', `${serviceName} has no endpoint to retry on`);
    },
    session: deps.session,
    headers: deps.headers,
    label: deps.label,
    run: traffic.run(serviceName, policy),
    bufferBytes: policy.bufferBytes,
    timers: deps.timers,
    now: deps.now,
    onAttempt: (endpoint) => {
      exchange.peer = endpoint.identity;
      exchange.endpoint = `${endpoint.address}:${endpoint.port}`;
    },
    onRetry: (reason) => traffic.retried(serviceName, reason),
    onExhausted: () => traffic.exhausted(serviceName),
  };
}

/**
 * The request timeout as a layer around a streaming forwarder's hooks (HTTP/2, gRPC): when it
 * fires first, the exchange ends as WEFT_ERR_TIMEOUT and `answer` writes the 504 (gRPC:
 * DEADLINE_EXCEEDED) and closes the stream, which makes the forwarder cancel its upstream
 * stream; whatever the forwarder reports after that is ignored.
 */
export function withTimeout(hooks: ForwardHooks, ms: number, timers: Timers, answer: (error: WeftError) => void): ForwardHooks {
  let over = false;
  const timer = timers.setTimeout(() => {
    if (over) return;
    over = true;
    const error = new WeftError('WEFT_ERR_TIMEOUT', `no response within the request timeout of ${ms} ms`);
    hooks.onResponse(error.status);
    hooks.onEnd(error);
    answer(error);
  }, ms);
  return {
    onResponse: (status) => {
      if (!over) hooks.onResponse(status);
    },
    onGrpcStatus: (value) => {
      if (!over) hooks.onGrpcStatus?.(value);
    },
    onEnd: (error) => {
      if (over) return;
      over = true;
      timers.clearTimeout(timer);
      hooks.onEnd(error);
    },
  };
}
