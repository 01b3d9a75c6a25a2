// The contract between the data plane and wherever endpoints come from (a local file, or
// EndpointSlices from the API server). The data plane only ever sees full snapshots.

/** A service as a client names it: namespace, name and the service port the client dialled. */
export interface ServiceRef {
  readonly namespace: string;
  readonly name: string;
  /** The Service port (what the app dialled), not the pod's target port. */
  readonly port: number;
}

/** One pod backing a service port. */
export interface Endpoint {
  /** Pod IP (or the pod's loopback address in local mode). */
  readonly address: string;
  /** The app's port on the pod (the Service's targetPort, resolved). */
  readonly port: number;
  /** The identity the pod's sidecar must present: its service account's SPIFFE URI. */
  readonly identity: string;
  /**
   * Only ready endpoints get new requests. A source sets it for the terminating-but-serving
   * endpoints too when no endpoint is ready (the terminating fallback, as kube-proxy does).
   */
  readonly ready: boolean;
  /** Pod name, for logs and /debug/endpoints. */
  readonly podName?: string;
  /** EndpointSlice condition `serving` (unset: the source does not say; treat as `ready`). */
  readonly serving?: boolean;
  /** EndpointSlice condition `terminating` (the pod is shutting down). */
  readonly terminating?: boolean;
  /** True when the pod runs a weft sidecar (annotation `weft.dev/injected`); unset: unknown. */
  readonly meshed?: boolean;
  /** Pod ports that skip protocol detection (`config.weft.dev/opaque-ports` on the pod or the Service). */
  readonly opaquePorts?: readonly number[];
  /** The Service port's appProtocol (`kubernetes.io/h2c`, `grpc`...): how the app on `port` speaks. */
  readonly appProtocol?: string;
}

/** A complete view of one service port: undefined endpoints means the service does not exist. */
export interface ServiceSnapshot {
  readonly ref: ServiceRef;
  readonly endpoints: readonly Endpoint[] | undefined;
  /** Service ports that skip protocol detection (`config.weft.dev/opaque-ports` on the Service). */
  readonly opaquePorts?: readonly number[];
}

/** The mesh endpoint that owns an address, found by EndpointSource.endpointAt. */
export interface AddressOwner {
  /** The identity the pod's sidecar must present. */
  readonly identity: string;
  readonly podName?: string;
  /** A service (with its service port) that has this endpoint, for metrics and logs. */
  readonly service?: ServiceRef;
  /** True when the pod runs a weft sidecar; false: a pod outside the mesh; unset: unknown. */
  readonly meshed?: boolean;
  /** Pod ports that skip protocol detection (`config.weft.dev/opaque-ports`). */
  readonly opaquePorts?: readonly number[];
}

/**
 * What discovery knows of an address an app dialled (EndpointSource.resolveAddress): a Service's
 * ClusterIP, a pod (meshed or not), or nothing (outside the cluster as far as discovery knows).
 */
export type AddressInfo =
  | { readonly kind: 'service'; readonly service: ServiceRef; readonly opaquePorts?: readonly number[] }
  | { readonly kind: 'pod'; readonly owner: AddressOwner }
  | { readonly kind: 'unknown' };

/** Where endpoints come from. Implementations: LocalEndpointSource (file), the kubernetes one. */
export interface EndpointSource {
  /**
   * Starts (or joins) watching a service port and calls `onUpdate` with every new full snapshot,
   * the first one as soon as it is known. Returns a function that stops this subscription; the
   * source may stop its watch when no subscription remains.
   */
  watch(ref: ServiceRef, onUpdate: (snapshot: ServiceSnapshot) => void): () => void;
  /** True once the source has loaded what it serves at least once (feeds /ready). */
  readonly synced: boolean;
  /**
   * Reverse lookup for captured traffic addressed to a pod IP (opaque TCP by original destination,
   * HTTP with an IP Host): the endpoint at `address`, preferring a service whose target port is
   * `port`. Optional: a source without it leaves such traffic outside the mesh.
   */
  endpointAt?(address: string, port: number): AddressOwner | undefined;
  /**
   * Asks discovery about an address (a ClusterIP or a pod IP) and the port dialled. Optional; the
   * Kubernetes mode's remote source asks the destination service (one round trip, then cached).
   * Never rejects: a failure to ask answers `unknown`.
   */
  resolveAddress?(address: string, port: number): Promise<AddressInfo>;
  /** Stops every watch. */
  close(): Promise<void>;
}

/** Stable map key for a ServiceRef. */
export function serviceKey(ref: ServiceRef): string {
  return `${ref.namespace}/${ref.name}:${ref.port}`;
}
