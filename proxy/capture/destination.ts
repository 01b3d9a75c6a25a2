// What the outbound side needs for captured connections (wired by proxy/proxy.ts): the original
// destination of each connection, and what the outbound decision (proxy/outbound/decision.ts)
// knows about addresses: pods and ClusterIPs from discovery, the proxy itself, the egress policy.
import type { Socket } from 'node:net';
import type { OriginalDestination } from './original-dst.js';
import type { Logger } from '../../lib/logger.js';
import type { AddressInfo } from '../../mesh/discovery/endpoint-source.js';
import type { EgressPolicy } from '../../mesh/egress-policy.js';

/** Captured traffic: how to read where it was going, and what is known about such addresses. */
export interface OutboundCapture {
  /** How long detection waits for the app's first bytes before calling the stream opaque. */
  readonly detectTimeoutMs: number;
  /** The original destination of an accepted connection; throws a WeftError (see original-dst.ts). */
  readonly originalDestination: (socket: Socket) => OriginalDestination;
  /** True when the connection was REDIRECTed rather than dialled to the outbound port itself. */
  readonly wasRedirected: (socket: Socket, destination: OriginalDestination) => boolean;
  /**
   * What discovery knows of an address and port (a ClusterIP, a pod with its meshed flag, or
   * nothing): EndpointSource.resolveAddress, or a synchronous answer where the source has one.
   */
  readonly resolve: (address: string, port: number) => AddressInfo | Promise<AddressInfo>;
  /**
   * This pod's own opaque ports (`config.weft.dev/opaque-ports`, WEFT_OPAQUE_PORTS): streams to
   * these destination ports skip protocol detection, as do those discovery lists for the
   * destination.
   */
  readonly opaquePorts: ReadonlySet<number>;
  /** The mesh-wide egress policy. */
  readonly egress: EgressPolicy;
  /** The pod's own addresses and the proxy's own listener ports (refused as loops). */
  readonly selfAddresses: ReadonlySet<string>;
  readonly selfPorts: ReadonlySet<number>;
  /** Where capture problems that have no request to fail (a missing addon) are told. */
  readonly log: Logger;
}
