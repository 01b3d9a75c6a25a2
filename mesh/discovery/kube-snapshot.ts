// Builds a service port's snapshot from the Service and its EndpointSlices (pure): service port
// -> port name -> each slice's port of that name (so named target ports work per pod), ready
// endpoints by conditions.ready (unset means ready, as the API documents), several slices merged,
// each endpoint's identity from the service account of the pod behind it. When no endpoint is
// ready, the terminating-but-serving ones take traffic (kube-proxy's terminating fallback).
import type { Endpoint, ServiceRef, ServiceSnapshot } from './endpoint-source.js';

/** The annotation (on a Service or a pod) listing ports that skip protocol detection. */
export const OPAQUE_PORTS_ANNOTATION = 'config.weft.dev/opaque-ports';

/** The fields of a Service this reads. */
export interface KubeService {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: {
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly ports?: readonly {
      readonly name?: string;
      readonly port?: number;
      readonly protocol?: string;
      readonly targetPort?: number | string;
      readonly appProtocol?: string;
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
  readonly ports?: readonly { readonly name?: string | null; readonly port?: number | null; readonly protocol?: string | null; readonly appProtocol?: string | null }[] | null;
  readonly endpoints?: readonly {
    readonly addresses?: readonly string[];
    readonly conditions?: { readonly ready?: boolean | null; readonly serving?: boolean | null; readonly terminating?: boolean | null };
    readonly targetRef?: TargetRef;
  }[] | null;
}

/** What discovery knows of the pod behind an endpoint. */
export interface EndpointPod {
  /** Its service account's SPIFFE identity. */
  readonly identity: string;
  /** True when it carries the `weft.dev/injected` annotation. */
  readonly meshed?: boolean;
  /** Its `config.weft.dev/opaque-ports`. */
  readonly opaquePorts?: readonly number[];
}

/**
 * Finds the pod behind an endpoint: its identity alone, or what else is known of it (undefined:
 * not known yet).
 */
export type IdentityLookup = (ref: TargetRef, namespace: string) => string | EndpointPod | undefined;

/**
 * The ports of a `config.weft.dev/opaque-ports` value: "3306,5432" or ranges "8000-8010"; a part
 * that is not a port or a range of at most 1024 ports is skipped (the annotation is advisory).
 */
export function parseOpaquePorts(value: string | undefined): readonly number[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const ports = new Set<number>();
  for (const part of value.split(',')) {
    const m = /^\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?\s*$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > 65535 || to < from || to - from > 1024) continue;
    for (let p = from; p <= to; p++) ports.add(p);
  }
  return ports.size > 0 ? [...ports].sort((a, b) => a - b) : undefined;
}

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
  const serviceOpaque = parseOpaquePorts(service.metadata?.annotations?.[OPAQUE_PORTS_ANNOTATION]);
  const portName = servicePort.name ?? '';
  const byAddress = new Map<string, Endpoint>();
  for (const slice of slices) {
    if (slice.addressType !== undefined && slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP');
    // A slice without our port (a controller mid-update, or a hand-made slice) can still serve a
    // numeric targetPort; a named one cannot be resolved without it.
    const port = slicePort?.port ?? (typeof servicePort.targetPort === 'number' ? servicePort.targetPort : undefined);
    if (port === undefined || port === null) continue;
    // The slice copies the Service port's appProtocol; the Service's own is the fallback.
    const appProtocol = slicePort?.appProtocol ?? servicePort.appProtocol;
    for (const e of slice.endpoints ?? []) {
      const address = e.addresses?.[0];
      if (!address) continue;
      const found = e.targetRef ? identityOf(e.targetRef, slice.metadata?.namespace ?? ref.namespace) : undefined;
      const pod: EndpointPod | undefined = typeof found === 'string' ? { identity: found } : found;
      const identity = pod?.identity;
      // conditions.ready: "nil should be interpreted as true" (discovery.k8s.io/v1 EndpointConditions);
      // serving: nil means "same as ready"; terminating: nil means false.
      const readyCondition = e.conditions?.ready !== false;
      const ready = readyCondition && identity !== undefined;
      const endpoint: Endpoint = {
        address,
        port,
        identity: identity ?? '',
        ready,
        ...(e.targetRef?.name ? { podName: e.targetRef.name } : {}),
        serving: (e.conditions?.serving ?? readyCondition) !== false,
        terminating: e.conditions?.terminating === true,
        ...(pod?.meshed === undefined ? {} : { meshed: pod.meshed }),
        ...(pod?.opaquePorts ? { opaquePorts: pod.opaquePorts } : {}),
        ...(appProtocol ? { appProtocol } : {}),
      };
      const key = `${address}:${port}`;
      const seen = byAddress.get(key);
      // The same pod may sit in two slices while the controller moves it: prefer the ready entry.
      if (!seen || (!seen.ready && ready)) byAddress.set(key, endpoint);
    }
  }
  const sorted = [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  const endpoints = withTerminatingFallback(sorted);
  return serviceOpaque ? { ref, endpoints, opaquePorts: serviceOpaque } : { ref, endpoints };
}

/**
 * kube-proxy's terminating fallback (KEP-1669): when no endpoint is ready, the ones that are
 * terminating but still serving (and whose identity is known) take new requests, so a
 * single-replica rollout does not answer 503 while the old pod drains.
 */
export function withTerminatingFallback(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  if (endpoints.some((e) => e.ready)) return endpoints;
  if (!endpoints.some((e) => e.terminating === true && e.serving === true && e.identity !== '')) return endpoints;
  return endpoints.map((e) => (e.terminating === true && e.serving === true && e.identity !== '' ? { ...e, ready: true } : e));
}

/** True when two snapshots would build the same picker (so an unchanged one is not re-sent). */
export function sameSnapshot(a: ServiceSnapshot | undefined, b: ServiceSnapshot): boolean {
  if (!a) return false;
  if (a.endpoints === undefined || b.endpoints === undefined) return a.endpoints === b.endpoints;
  if (a.endpoints.length !== b.endpoints.length) return false;
  return a.endpoints.every((e, i) => {
    const f = b.endpoints?.[i];
    return (
      f !== undefined &&
      e.address === f.address &&
      e.port === f.port &&
      e.ready === f.ready &&
      e.identity === f.identity &&
      e.podName === f.podName &&
      e.serving === f.serving &&
      e.terminating === f.terminating &&
      e.meshed === f.meshed &&
      e.appProtocol === f.appProtocol &&
      samePorts(e.opaquePorts, f.opaquePorts)
    );
  }) && samePorts(a.opaquePorts, b.opaquePorts);
}

function samePorts(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((p, i) => p === b[i]);
}
