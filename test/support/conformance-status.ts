// The conformance suite's status assertions (conformance/utils/kubernetes/helpers.go at the pinned
// commit: HTTPRouteMustHaveCondition, ...ResolvedRefsConditionsTrue, ...NoAcceptedParents,
// GatewayMustHaveZeroRoutes, GatewayAndHTTPRoutesMustBeAccepted, ...LatestConditions) judged
// against the statuses `weft gateway` serves on GET /debug/status. Pure.
import type { NamespacedName, StatusCheck } from './conformance-replay.js';

interface Cond {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly observedGeneration?: number;
}

/** One entry of /debug/status. */
export interface ObjectStatusJson {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly status: {
    readonly conditions?: readonly Cond[];
    readonly listeners?: readonly { readonly name: string; readonly attachedRoutes: number; readonly conditions: readonly Cond[] }[];
    readonly parents?: readonly { readonly parentRef: { readonly name: string; readonly namespace?: string; readonly sectionName?: string }; readonly conditions: readonly Cond[] }[];
  };
}

const find = (all: readonly ObjectStatusJson[], kind: string, nn: NamespacedName | undefined): ObjectStatusJson | undefined =>
  all.find((s) => s.kind === kind && s.name === nn?.Name && s.namespace === nn.Namespace);

/** The route's parent statuses for this Gateway (parentRef namespace defaults to the route's). */
function parentsFor(route: ObjectStatusJson, gw: NamespacedName | undefined): NonNullable<ObjectStatusJson['status']['parents']> {
  return (route.status.parents ?? []).filter((p) => p.parentRef.name === gw?.Name && (p.parentRef.namespace ?? route.namespace) === gw.Namespace);
}

const show = (c: readonly Cond[]): string => c.map((x) => `${x.type}=${x.status}(${x.reason})`).join(' ');

/**
 * Undefined when `check` holds in `all`, else what differs. `generation`, when given, is the
 * generation the conditions must have observed (ObservedGenerationBump).
 */
export function checkStatus(check: StatusCheck, all: readonly ObjectStatusJson[], generation?: number): string | undefined {
  const label = (nn: NamespacedName | undefined): string => `${nn?.Namespace ?? ''}/${nn?.Name ?? ''}`;
  const gen = (conds: readonly Cond[]): string | undefined =>
    generation === undefined || conds.every((c) => c.observedGeneration === generation) ? undefined : `observedGeneration is not ${generation}: ${JSON.stringify(conds.map((c) => c.observedGeneration))}`;
  switch (check.check) {
    case 'HTTPRouteMustHaveCondition':
    case 'HTTPRouteMustHaveResolvedRefsConditionsTrue': {
      const route = find(all, 'HTTPRoute', check.route);
      if (!route) return `HTTPRoute ${label(check.route)} has no status`;
      const want = check.condition ?? { Type: 'ResolvedRefs', Status: 'True', Reason: 'ResolvedRefs' };
      const parents = parentsFor(route, check.gateway);
      if (parents.length === 0) return `HTTPRoute ${label(check.route)} has no parent status for Gateway ${label(check.gateway)}`;
      const conds = parents.flatMap((p) => p.conditions);
      const ok = conds.some((c) => c.type === want.Type && c.status === want.Status && (want.Reason === '' || c.reason === want.Reason));
      if (!ok) return `expected ${want.Type}=${want.Status}(${want.Reason || 'any'}), got ${show(conds)}`;
      return gen(conds);
    }
    case 'HTTPRouteMustHaveNoAcceptedParents': {
      const route = find(all, 'HTTPRoute', check.route);
      if (!route) return `HTTPRoute ${label(check.route)} has no status`;
      const accepted = (route.status.parents ?? []).filter((p) => p.conditions.some((c) => c.type === 'Accepted' && c.status === 'True'));
      return accepted.length === 0 ? undefined : `accepted by ${accepted.map((p) => p.parentRef.name).join(', ')}`;
    }
    case 'GatewayMustHaveZeroRoutes': {
      const g = find(all, 'Gateway', check.gateway);
      if (!g) return `Gateway ${label(check.gateway)} has no status`;
      const attached = (g.status.listeners ?? []).filter((l) => l.attachedRoutes !== 0);
      return attached.length === 0 ? undefined : `attachedRoutes: ${attached.map((l) => `${l.name}=${l.attachedRoutes}`).join(', ')}`;
    }
    case 'GatewayAndHTTPRoutesMustBeAccepted': {
      const gwRef = check.gatewayRef;
      const g = find(all, 'Gateway', gwRef);
      if (!g) return `Gateway ${label(gwRef)} has no status`;
      const gconds = g.status.conditions ?? [];
      if (!gconds.some((c) => c.type === 'Programmed' && c.status === 'True')) return `Gateway ${label(gwRef)} not Programmed: ${show(gconds)}`;
      for (const r of check.routes ?? []) {
        const route = find(all, 'HTTPRoute', r);
        if (!route) return `HTTPRoute ${label(r)} has no status`;
        const conds = parentsFor(route, gwRef).flatMap((p) => p.conditions);
        if (!conds.some((c) => c.type === 'Accepted' && c.status === 'True')) return `HTTPRoute ${label(r)} not Accepted by ${label(gwRef)}: ${show(conds)}`;
        const stale = gen(conds);
        if (stale) return stale;
      }
      return undefined;
    }
    case 'HTTPRouteMustHaveLatestConditions': {
      const route = find(all, 'HTTPRoute', check.route);
      if (!route) return `HTTPRoute ${label(check.route)} has no status`;
      const conds = (route.status.parents ?? []).flatMap((p) => p.conditions);
      const stale = conds.filter((c) => c.observedGeneration !== route.generation);
      return stale.length === 0 ? undefined : `conditions not at generation ${route.generation ?? 'none'}: ${JSON.stringify(stale)}`;
    }
    default:
      return `status check ${check.check} is not replayed by this harness`;
  }
}
