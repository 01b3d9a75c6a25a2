// The Gateway API rule for an HTTPRoute and a GRPCRoute on one listener with overlapping hostnames:
// exactly one of the two is kept there, the older (then the first by namespace/name); the other is
// not attached to that listener. Pure: attachments in, attachments kept and the losers' reasons out.
import { intersectHostnames } from './hostnames.js';

/** One route's attachment to one listener, with the hostnames it serves there. */
export interface Attachment<L> {
  readonly listener: L;
  readonly hosts: readonly string[];
}

/** A route of either kind with its attachments, as the table computed them. */
export interface AttachedRoute<L> {
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  readonly namespace: string;
  readonly name: string;
  readonly createdMs: number;
  readonly attached: readonly Attachment<L>[];
}

/** True when two hostname lists (each already cut to one listener, '*' for any) share a name. */
export function hostsOverlap(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) => x === '*' || b.some((y) => y === '*' || intersectHostnames(x, [y]).length > 0));
}

// Negative when `a` wins: the older route, then the first by namespace/name.
function older<L>(a: AttachedRoute<L>, b: AttachedRoute<L>): number {
  if (a.createdMs !== b.createdMs) return a.createdMs - b.createdMs;
  const an = `${a.namespace}/${a.name}`;
  const bn = `${b.namespace}/${b.name}`;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/**
 * Drops each attachment that loses a cross-kind conflict on its listener (`sameListener` compares
 * two listeners). Returns, per route, the attachments it keeps, and one reason per lost listener.
 */
export function settleKindConflicts<L, R extends AttachedRoute<L>>(
  routes: readonly R[],
  sameListener: (a: L, b: L) => boolean,
  listenerName: (l: L) => string,
): { kept: Map<R, Attachment<L>[]>; lost: Map<R, string[]> } {
  const kept = new Map<R, Attachment<L>[]>();
  const lost = new Map<R, string[]>();
  for (const route of routes) {
    const keep: Attachment<L>[] = [];
    for (const a of route.attached) {
      const winner = routes.find(
        (other) =>
          other.kind !== route.kind &&
          older(other, route) < 0 &&
          other.attached.some((o) => sameListener(o.listener, a.listener) && hostsOverlap(o.hosts, a.hosts)),
      );
      if (winner === undefined) keep.push(a);
      else {
        const reasons = lost.get(route) ?? [];
        reasons.push(`${winner.kind} ${winner.namespace}/${winner.name} is older and serves the same hostnames on listener ${listenerName(a.listener)}; this ${route.kind} is not attached there (Conflicted)`);
        lost.set(route, reasons);
      }
    }
    kept.set(route, keep);
  }
  return { kept, lost };
}
