// The kinds weft lists and watches, at the API versions it reads them, and whether the component
// works without them: the gateway's route source watches GATEWAY_ROUTE_KINDS, and `weft check`
// asks the API server's discovery which of these it serves.

/** One collection weft reads. */
export interface ReadKind {
  /** API group; '' is the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural resource name. */
  readonly resource: string;
  readonly kind: string;
  /** Which components read it. */
  readonly readers: readonly ('proxy' | 'gateway')[];
  /** True when the component runs without it (an absent kind is an empty collection). */
  readonly optional: boolean;
}

/** What the proxy's and the gateway's endpoint discovery reads; neither works without them. */
export const DISCOVERY_KINDS: readonly ReadKind[] = [
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', readers: ['proxy', 'gateway'], optional: false },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', readers: ['proxy', 'gateway'], optional: false },
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', readers: ['proxy', 'gateway'], optional: false },
];

/**
 * What the kube-mode gateway watches for its routes. All but Namespace are optional: a cluster
 * without the Gateway API CRDs (Ingress only), without ReferenceGrant v1beta1 or without weft's
 * policy CRDs gets a gateway serving what exists.
 */
export const GATEWAY_ROUTE_KINDS: readonly ReadKind[] = [
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gateways', kind: 'Gateway', readers: ['gateway'], optional: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', kind: 'HTTPRoute', readers: ['gateway'], optional: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'grpcroutes', kind: 'GRPCRoute', readers: ['gateway'], optional: true },
  { group: 'gateway.networking.k8s.io', version: 'v1beta1', resource: 'referencegrants', kind: 'ReferenceGrant', readers: ['gateway'], optional: true },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', kind: 'Ingress', readers: ['gateway'], optional: true },
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', readers: ['gateway'], optional: false },
  // Written out, so the RBAC test's scan of API calls sees each resource the gateway reads.
  { group: 'weft.dev', version: 'v1alpha1', resource: 'apikeypolicies', kind: 'ApiKeyPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'jwtpolicies', kind: 'JwtPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', kind: 'RateLimitPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'corspolicies', kind: 'CorsPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'ipaccesspolicies', kind: 'IpAccessPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'bodylimitpolicies', kind: 'BodyLimitPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'transformpolicies', kind: 'TransformPolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'cachepolicies', kind: 'CachePolicy', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'consumers', kind: 'Consumer', readers: ['gateway'], optional: true },
  { group: 'weft.dev', version: 'v1alpha1', resource: 'plans', kind: 'Plan', readers: ['gateway'], optional: true },
];

/** "resource.group/version" (core: "resource/v1"), how messages name a kind. */
export function kindLabel(k: Pick<ReadKind, 'group' | 'version' | 'resource'>): string {
  return `${k.resource}${k.group ? `.${k.group}` : ''}/${k.version}`;
}
