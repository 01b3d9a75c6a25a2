// The outbound routing step: the fixed service of an explicit upstream port, or the outbound
// decision (decision.ts) over a captured connection's original destination and what discovery knows
// of it, dispatched to a balancer pick, a pod, a passthrough or a refusal. server.ts forwards.
import { parseAuthority, type NameContext } from '../../mesh/discovery/service-name.js';
import { serviceKey, type AddressInfo, type Endpoint, type ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import { cancelled, directPick, type CompletedPick } from '../../mesh/balance/picker.js';
import { PickQueue } from '../../mesh/balance/pick-queue.js';
import type { ServiceBalancers } from '../../mesh/balance/service-balancers.js';
import type { Timers } from '../../lib/timers.js';
import { WeftError, isWeftError } from '../../lib/errors.js';
import type { IdentityProvider } from '../../mesh/identity/identity-provider.js';
import type { ProxyMetrics } from '../metrics.js';
import type { OutboundCapture } from '../capture/destination.js';
import { decideOutbound, type Address, type DecisionContext, type DecisionInput, type OutboundDecision, type PassthroughReason } from './decision.js';
import { ALLOW_ALL } from '../../mesh/egress-policy.js';
import type { CompiledRoutes, RouteHead } from '../../mesh/routes/route-decision.js';
import type { MeshRule } from '../../mesh/routes/mesh-routes.js';
import type { Traffic } from '../../mesh/traffic/traffic.js';

/** Where a request goes: a service and the endpoint picked for it, or its original destination. */
export type Target =
  | { readonly kind: 'mesh'; readonly service: ServiceRef; readonly pick: CompletedPick; readonly rule?: MeshRule }
  | { readonly kind: 'passthrough'; readonly address: string; readonly port: number; readonly reason: PassthroughReason };

/** What a captured connection's requests are decided with: where it was going and what that is. */
export interface Captured {
  readonly original: Address;
  readonly known: AddressInfo;
}

/** Discovery knows nothing of the address. */
export const UNKNOWN: AddressInfo = { kind: 'unknown' };

/** What the router needs. */
export interface RouterDeps {
  readonly balancers: ServiceBalancers;
  readonly identity: Pick<IdentityProvider, 'current'>;
  readonly metrics: ProxyMetrics;
  readonly names: NameContext;
  /** How long a request waits for discovery's first answer about a service. */
  readonly discoveryWaitMs: number;
  readonly timers?: Timers;
  readonly capture?: OutboundCapture;
  /** Mesh routes of the Services this proxy calls (local mode: the routes file). */
  readonly routes?: { readonly current: CompiledRoutes };
  /** Counts requests per route (mesh/traffic). */
  readonly traffic?: Pick<Traffic, 'routed'>;
  /** Uniform [0,1) source for weighted backends (Math.random unless a test seeds it). */
  readonly random?: () => number;
}

/** Routes outbound connections and requests (one per outbound proxy). */
export class OutboundRouter {
  readonly #deps: RouterDeps;
  readonly #queue: PickQueue;
  readonly #decision: DecisionContext;

  constructor(deps: RouterDeps) {
    this.#deps = deps;
    this.#queue = new PickQueue(deps.discoveryWaitMs, deps.timers);
    this.#decision = {
      names: deps.names,
      egress: deps.capture?.egress ?? ALLOW_ALL,
      selfAddresses: deps.capture?.selfAddresses ?? new Set(),
      selfPorts: deps.capture?.selfPorts ?? new Set(),
    };
  }

  /**
   * Routes: the fixed service of an explicit upstream port, or the outbound decision; answers at
   * once, or, while discovery has not answered, later. Returns a cancel.
   */
  route(
    captured: Captured | undefined,
    authority: string | undefined,
    sni: string | undefined,
    fixed: ServiceRef | undefined,
    protocol: 'http' | 'tcp',
    answer: (route: Target | WeftError) => void,
    head?: RouteHead,
  ): () => void {
    if (fixed) return this.#pickService(fixed, answer, undefined, protocol, head);
    if (captured) {
      const input: DecisionInput = { original: captured.original, authority, sni, known: captured.known };
      return this.#dispatch(decideOutbound(input, this.#decision), input, protocol, answer, head);
    }
    // Not captured: an IP Host is looked up as the destination (as under `weft up`).
    const ip = authority === undefined ? undefined : parseAuthority(authority, this.#deps.names);
    const decide = (known: AddressInfo): (() => void) => {
      const input: DecisionInput = { original: undefined, authority, known };
      return this.#dispatch(decideOutbound(input, this.#decision), input, protocol, answer, head);
    };
    if (ip?.kind !== 'ip' || !this.#deps.capture) return decide(UNKNOWN);
    const known = this.#deps.capture.resolve(ip.address, ip.port);
    if (!(known instanceof Promise)) return decide(known);
    let cancel: (() => void) | undefined;
    let cancelled = false;
    known.catch(() => UNKNOWN).then(
      (info) => {
        if (!cancelled) cancel = decide(info);
      },
      noop,
    );
    return () => {
      cancelled = true;
      cancel?.();
    };
  }

  #dispatch(decision: OutboundDecision, input: DecisionInput, protocol: 'http' | 'tcp', answer: (route: Target | WeftError) => void, head?: RouteHead): () => void {
    const { metrics, identity } = this.#deps;
    switch (decision.kind) {
      case 'refused':
        if (decision.code === 'WEFT_ERR_EGRESS_DENIED' || decision.code === 'WEFT_ERR_LOOP') metrics.refused.inc({ protocol, code: decision.code });
        return once(answer, new WeftError(decision.code, decision.message));
      case 'passthrough':
        metrics.passthrough.inc({ protocol, reason: decision.reason, tls: 'no' });
        return once(answer, { kind: 'passthrough', address: decision.address, port: decision.port, reason: decision.reason });
      case 'pod': {
        // `curl http://<podIP>:<port>/` or opaque TCP to a pod IP: that pod's sidecar, its identity checked.
        if (!identity.current()) return once(answer, new WeftError('WEFT_ERR_NOT_READY', 'the proxy holds no certificate yet'));
        const { owner } = decision;
        const endpoint: Endpoint = { address: decision.address, port: decision.port, identity: owner.identity, ready: true, ...(owner.podName ? { podName: owner.podName } : {}) };
        return once(answer, { kind: 'mesh', service: owner.service ?? { namespace: '', name: decision.address, port: decision.port }, pick: directPick(endpoint) });
      }
      case 'service': {
        // A captured request whose Host names no service after all goes by its original destination.
        const byName = input.original !== undefined && !input.nameAbsent && input.authority !== undefined;
        if (!byName) return this.#pickService(decision.ref, answer, input.original, protocol, head);
        // The pick may answer at once (before `first` is assigned) or later from the queue.
        let fallback: (() => void) | undefined;
        const first = this.#pickService(decision.ref, (routed) => {
          if (!isWeftError(routed, 'WEFT_ERR_UNKNOWN_SERVICE')) return answer(routed);
          const again: DecisionInput = { original: input.original, authority: input.authority, nameAbsent: true, known: input.known };
          fallback = this.#dispatch(decideOutbound(again, this.#decision), again, protocol, answer, head);
        }, input.original, protocol, head);
        return () => {
          first();
          fallback?.();
        };
      }
    }
  }

  // Picks an endpoint of a service, after its mesh route (if any) chose the backend Service (a
  // canary, a split). An endpoint discovery knows has no sidecar is not mTLS'd to: the request goes
  // unchanged to where the app was going (the ClusterIP), or to that endpoint.
  #pickService(ref: ServiceRef, answer: (route: Target | WeftError) => void, original?: Address, protocol: 'http' | 'tcp' = 'http', head?: RouteHead): () => void {
    if (!this.#deps.identity.current()) return once(answer, new WeftError('WEFT_ERR_NOT_READY', 'the proxy holds no certificate yet'));
    let backend = ref;
    let rule: MeshRule | undefined;
    const routes = this.#deps.routes?.current;
    if (head && routes && !routes.empty) {
      const choice = routes.decide(ref, head, this.#deps.random ?? Math.random);
      if (choice instanceof WeftError) return once(answer, choice);
      if (choice) {
        this.#deps.traffic?.routed(serviceKey(ref), choice.rule.label);
        backend = choice.backend;
        rule = choice.rule;
      }
    }
    return this.#queue.pick(this.#deps.balancers.get(backend), serviceKey(backend), (picked) => {
      if (picked instanceof WeftError) return answer(picked);
      if (picked.endpoint.meshed !== false) return answer(rule ? { kind: 'mesh', service: backend, pick: picked, rule } : { kind: 'mesh', service: backend, pick: picked });
      picked.release(cancelled());
      this.#deps.metrics.passthrough.inc({ protocol, reason: 'no-sidecar', tls: 'no' });
      const to = original ?? picked.endpoint;
      answer({ kind: 'passthrough', address: to.address, port: to.port, reason: 'no-sidecar' });
    });
  }
}

// An answer known at once: nothing to cancel.
function once<T>(answer: (value: T) => void, value: T): () => void {
  answer(value);
  return noop;
}

function noop(): void {}
