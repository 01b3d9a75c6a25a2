// Builds a service port's snapshot from the Service and its EndpointSlices (pure): service port
// -> port name -> each slice's port of that name (so named target ports work per pod), ready
// endpoints by conditions.ready (unset means ready, as the API documents), several slices merged,
// each endpoint's identity from the service account of the pod behind it.
import type { Endpoint, ServiceRef, ServiceSnapshot } from './endpoint-source.js';

/** The fields of a Service this reads. */
export interface KubeService {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: {
    readonly ports?: readonly {
      readonly name?: string;
      readonly port?: number;
      readonly protocol?: string;
      readonly targetPort?: number | string;
    }[];
  };
}

/** A reference from an endpoint to the object behind it. */
export interface TargetRef {
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
}

/** The fields of an EndpointSlice this reads. */
export interface KubeEndpointSlice {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly addressType?: string;
  readonly ports?: readonly { readonly name?: string | null; readonly port?: number | null; readonly protocol?: string | null }[] | null;
  readonly endpoints?: readonly {
    readonly addresses?: readonly string[];
    readonly conditions?: { readonly ready?: boolean | null; readonly serving?: boolean | null; readonly terminating?: boolean | null };
    readonly targetRef?: TargetRef;
  }[] | null;
}

/** Finds the service account identity of the pod behind an endpoint (undefined: not known yet). */
export type IdentityLookup = (ref: TargetRef, namespace: string) => string | undefined;

/**
 * The snapshot of `ref`. No Service, or no such TCP port on it: endpoints undefined (unknown
 * service). Endpoints whose pod identity is not known yet are listed but not ready, since their
 * peer certificate could not be checked.
 */
export function snapshotFromKube(
  ref: ServiceRef,
  service: KubeService | undefined,
  slices: Iterable<KubeEndpointSlice>,
  identityOf: IdentityLookup,
): ServiceSnapshot {
  const servicePort = service?.spec?.ports?.find((p) => p.port === ref.port && (p.protocol ?? 'TCP') === 'TCP');
  if (!service || !servicePort) return { ref, endpoints: undefined };
  const portName = servicePort.name ?? '';
  const byAddress = new Map<string, Endpoint>();
  for (const slice of slices) {
    if (slice.addressType !== undefined && slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP');
    // A slice without our port (a controller mid-update, or a hand-made slice) can still serve a
    // numeric targetPort; a named one cannot be resolved without it.
    const port = slicePort?.port ?? (typeof servicePort.targetPort === 'number' ? servicePort.targetPort : undefined);
    if (port === undefined || port === null) continue;
    for (const e of slice.endpoints ?? []) {
      const address = e.addresses?.[0];
      if (!address) continue;
      const identity = e.targetRef ? identityOf(e.targetRef, slice.metadata?.namespace ?? ref.namespace) : undefined;
      // conditions.ready: "nil should be interpreted as true" (discovery.k8s.io/v1 EndpointConditions).
      const ready = e.conditions?.ready !== false && identity !== undefined;
      const endpoint: Endpoint = {
        address,
        port,
        identity: identity ?? '',
        ready,
        ...(e.targetRef?.name ? { podName: e.targetRef.name } : {}),
      };
      const key = `${address}:${port}`;
      const seen = byAddress.get(key);
      // The same pod may sit in two slices while the controller moves it: prefer the ready entry.
      if (!seen || (!seen.ready && ready)) byAddress.set(key, endpoint);
    }
  }
  const endpoints = [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  return { ref, endpoints };
}

/** True when two snapshots would build the same picker (so an unchanged one is not re-sent). */
export function sameSnapshot(a: ServiceSnapshot | undefined, b: ServiceSnapshot): boolean {
  if (!a) return false;
  if (a.endpoints === undefined || b.endpoints === undefined) return a.endpoints === b.endpoints;
  if (a.endpoints.length !== b.endpoints.length) return false;
  return a.endpoints.every((e, i) => {
    const f = b.endpoints?.[i];
    return f !== undefined && e.address === f.address && e.port === f.port && e.ready === f.ready && e.identity === f.identity && e.podName === f.podName;
  });
}
