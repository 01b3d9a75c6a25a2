// Where captured traffic goes when its bytes do not name a service (pure): opaque TCP by its
// original destination, HTTP whose Host is an IP by that IP. A pod IP the endpoint source knows is
// a mesh endpoint (mTLS to its sidecar, its identity checked); any other address is outside the
// mesh and is passed through as the app sent it.
import type { Socket } from 'node:net';
import { WeftError } from '../../lib/errors.js';
import { serviceKey, type AddressOwner } from '../../mesh/discovery/endpoint-source.js';
import type { OriginalDestination } from './original-dst.js';
import type { OpaqueTarget } from './opaque.js';
import type { Logger } from '../../lib/logger.js';

/** What the outbound side needs for captured connections (wired by proxy/proxy.ts). */
export interface OutboundCapture {
  /** How long detection waits for the app's first bytes before calling the stream opaque. */
  readonly detectTimeoutMs: number;
  /** The original destination of an accepted connection; throws a WeftError (see original-dst.ts). */
  readonly originalDestination: (socket: Socket) => OriginalDestination;
  /** True when the connection was REDIRECTed rather than dialled to the outbound port itself. */
  readonly wasRedirected: (socket: Socket, destination: OriginalDestination) => boolean;
  /** The mesh endpoint owning a pod IP (EndpointSource.endpointAt). */
  readonly endpointAt: (address: string, port: number) => AddressOwner | undefined;
  /** Where capture problems that have no request to fail (a missing addon) are told. */
  readonly log: Logger;
}

/** Decides the target of an opaque stream from its original destination. */
export function opaqueTarget(destination: OriginalDestination, redirected: boolean, owner: AddressOwner | undefined): OpaqueTarget | WeftError {
  if (!redirected) {
    return new WeftError(
      'WEFT_ERR_ORIGINAL_DST',
      'non-HTTP TCP sent to the outbound port itself has no destination; only connections captured by weft init carry one',
    );
  }
  if (!owner) return { kind: 'passthrough', address: destination.address, port: destination.port };
  return {
    kind: 'mesh',
    address: destination.address,
    port: destination.port,
    identity: owner.identity,
    service: owner.service ? serviceKey(owner.service) : `${destination.address}:${destination.port}`,
  };
}
