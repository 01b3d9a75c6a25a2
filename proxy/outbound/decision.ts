// The outbound decision (pure): from where the app meant to go (its original destination, the
// HTTP Host / :authority, the TLS SNI) and what discovery knows, one of: a mesh service (balance,
// mTLS), a meshed pod by IP (mTLS to its sidecar), passthrough (forwarded unchanged, plain as the
// app sent it), or refused with a code. Every captured connection and request goes through it.
import { parseAuthority, type NameContext } from '../../mesh/discovery/service-name.js';
import type { AddressInfo, AddressOwner, ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import { egressAllows, type EgressPolicy } from '../../mesh/egress-policy.js';

/** Why a destination is passed through unchanged (the `reason` label and access-log field). */
export type PassthroughReason = 'outside-cluster' | 'no-sidecar' | 'egress-allowed';

/** Codes a decision refuses or fails with (see docs/errors.md). */
export type DecisionCode = 'WEFT_ERR_EGRESS_DENIED' | 'WEFT_ERR_LOOP' | 'WEFT_ERR_BAD_REQUEST' | 'WEFT_ERR_UNKNOWN_SERVICE';

/** An address and port. */
export interface Address {
  readonly address: string;
  readonly port: number;
}

/** What the decision knows besides the connection: names, policy, the proxy itself. */
export interface DecisionContext {
  readonly names: NameContext;
  readonly egress: EgressPolicy;
  /** The pod's own addresses and the proxy's own listener ports. */
  readonly selfAddresses: ReadonlySet<string>;
  readonly selfPorts: ReadonlySet<number>;
}

/** One outbound connection or request, as far as the decision needs it. */
export interface DecisionInput {
  /** SO_ORIGINAL_DST of a captured connection; undefined when the app dialled the proxy itself. */
  readonly original: Address | undefined;
  /** HTTP Host / :authority; undefined for opaque TCP. */
  readonly authority: string | undefined;
  /** The TLS SNI of an opaque stream: only matched against the egress policy (routing is by address). */
  readonly sni?: string;
  /** Discovery answered that the name in `authority` is no mesh service: decide without it. */
  readonly nameAbsent?: boolean;
  /**
   * What discovery knows of the destination address (the original destination; for a request
   * that was not captured, its IP Host): a Service's ClusterIP, a pod (meshed or not), or nothing.
   */
  readonly known: AddressInfo;
}

/** Where the connection or request goes. */
export type OutboundDecision =
  | { readonly kind: 'service'; readonly ref: ServiceRef }
  | { readonly kind: 'pod'; readonly address: string; readonly port: number; readonly owner: AddressOwner }
  | { readonly kind: 'passthrough'; readonly address: string; readonly port: number; readonly reason: PassthroughReason }
  | { readonly kind: 'refused'; readonly code: DecisionCode; readonly message: string };

/**
 * Decides where an outbound connection or request goes. The order, first match wins:
 * 1. the original destination is the proxy itself (own address, own listener port) -> refused
 *    WEFT_ERR_LOOP;
 * 2. the Host / :authority names a service (and discovery has not said it does not exist) ->
 *    that service; an uncaptured request whose authority is no name fails as before;
 * 3. the destination (the original one; for an uncaptured request an IP Host) is a ClusterIP ->
 *    that service (whose picked endpoint may still turn out to have no sidecar: the caller then
 *    passes through); a pod -> that pod if meshed (unknown counts as meshed), else passthrough
 *    `no-sidecar`;
 * 4. anything else is outside the cluster: the egress policy lets it through (`outside-cluster` in
 *    allow mode, `egress-allowed` when listed) or refuses it with WEFT_ERR_EGRESS_DENIED. An
 *    uncaptured request has no destination to pass through to: WEFT_ERR_UNKNOWN_SERVICE.
 */
export function decideOutbound(input: DecisionInput, ctx: DecisionContext): OutboundDecision {
  const { original } = input;
  if (original && isSelf(original, ctx)) {
    return refused('WEFT_ERR_LOOP', `${formatAddress(original)} is this proxy's own listener: forwarding there would loop`);
  }
  const target = input.authority === undefined ? undefined : parseAuthority(input.authority, ctx.names);
  if (target?.kind === 'service' && !input.nameAbsent) return { kind: 'service', ref: target.ref };
  let destination = original;
  if (!destination) {
    if (target === undefined) return refused('WEFT_ERR_BAD_REQUEST', 'no Host or :authority, and the connection was not captured');
    if (target.kind === 'invalid') return refused('WEFT_ERR_BAD_REQUEST', target.reason);
    if (target.kind === 'service') return refused('WEFT_ERR_UNKNOWN_SERVICE', `${input.authority ?? ''} names no mesh service`);
    destination = { address: target.address, port: target.port };
  }
  const { known } = input;
  if (known.kind === 'service') return { kind: 'service', ref: known.service };
  if (known.kind === 'pod') {
    if (known.owner.meshed !== false) return { kind: 'pod', address: destination.address, port: destination.port, owner: known.owner };
    if (original) return passthrough(original, 'no-sidecar');
  }
  if (!original) {
    return refused('WEFT_ERR_UNKNOWN_SERVICE', `${formatAddress(destination)} is an address, not a service name or a mesh pod`);
  }
  const host = target?.kind === 'service' || target?.kind === 'invalid' ? hostOf(input.authority ?? '') : input.sni;
  if (!egressAllows(ctx.egress, host, original.address)) {
    const what = host === undefined ? formatAddress(original) : `${host} (${formatAddress(original)})`;
    return refused('WEFT_ERR_EGRESS_DENIED', `${what} is outside the mesh and not listed in the registry-only egress policy`);
  }
  return passthrough(original, ctx.egress.mode === 'allow' ? 'outside-cluster' : 'egress-allowed');
}

/** The host part of an authority (no port, lower case, no trailing dot). */
export function hostOf(authority: string): string {
  const v6 = /^\[([^\]]*)\]/.exec(authority);
  if (v6) return (v6[1] ?? '').toLowerCase();
  const colon = authority.lastIndexOf(':');
  const host = colon === -1 || authority.indexOf(':') !== colon ? authority : authority.slice(0, colon);
  return host.toLowerCase().replace(/\.$/, '');
}

function isSelf(destination: Address, ctx: DecisionContext): boolean {
  if (!ctx.selfPorts.has(destination.port)) return false;
  const address = destination.address.replace(/^::ffff:/i, '');
  return ctx.selfAddresses.has(address) || address.startsWith('127.') || address === '::1' || address === '0.0.0.0' || address === '::';
}

function passthrough(destination: Address, reason: PassthroughReason): OutboundDecision {
  return { kind: 'passthrough', address: destination.address, port: destination.port, reason };
}

function refused(code: DecisionCode, message: string): OutboundDecision {
  return { kind: 'refused', code, message };
}

function formatAddress(a: Address): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
