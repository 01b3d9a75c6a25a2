// The Kubernetes API calls each weft component makes, as one table. The chart's RBAC grants
// exactly these rows (test/unit/charts/rbac.test.ts compares them), `weft check` asks the API
// server with SubjectAccessReviews whether each component may still make them, and the test also
// scans the source for API calls that no row covers.

/**
 * A weft process that talks to the API server under its own identity. The injector is one only
 * with `injector.tls.provider: injector` (its own webhook certificate); otherwise the webhook's
 * path tells it whether the namespace is labelled and it calls no API. The proxy is never one:
 * it asks `weft destination` and holds no API credentials.
 */
export type Component = 'ca' | 'destination' | 'gateway' | 'injector';

/** Kubernetes API verbs weft uses. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** One permission a component needs. */
export interface KubeAccess {
  readonly component: Component;
  /** API group; '' is the core group. */
  readonly group: string;
  /** Plural resource name. */
  readonly resource: string;
  readonly verbs: readonly Verb[];
  /**
   * cluster: any namespace (ClusterRole); release: weft's own namespace only (Role);
   * gateway-tls: only in the namespaces of the Secrets listed in gateway.tlsSecrets.
   */
  readonly scope: 'cluster' | 'release' | 'gateway-tls';
  /**
   * Object names the rule is limited to (RBAC resourceNames). Symbolic names in angle brackets
   * are filled in from the chart's values: <ca-secret> is ca.secretName, <tls-secret> each
   * gateway.tlsSecrets name.
   */
  readonly names?: readonly string[];
  /** Only granted when `weft ca` generates and stores its own root and issuer. */
  readonly generatedTrustOnly?: boolean;
  /** Only granted when the injector makes its own webhook certificate (`injector.tls.provider: injector`). */
  readonly injectorSelfTlsOnly?: boolean;
  /** Why the component needs it (shown by `weft check` when it is missing). */
  readonly why: string;
}

/** The service account a component runs as, relative to weft's namespace. */
export const COMPONENT_SERVICE_ACCOUNTS: Readonly<Record<Component, string>> = {
  ca: 'weft-ca',
  destination: 'weft-destination',
  gateway: 'weft-gateway',
  injector: 'weft-injector',
};

// The gateway's own Kubernetes discovery (mesh/discovery/kube-endpoint-source.ts: per-service
// watches, a GET per pod for its service account).
const DISCOVERY: readonly Omit<KubeAccess, 'component'>[] = [
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'discovers the ready endpoints of each service it calls' },
  { group: '', resource: 'services', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'maps service ports to target ports; lists every Service so route status can say BackendNotFound and named ports resolve' },
  { group: '', resource: 'pods', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'learns the service account (identity) behind each endpoint' },
];

/** Every permission, by component. */
export const KUBE_ACCESS: readonly KubeAccess[] = [
  { component: 'ca', group: 'authentication.k8s.io', resource: 'tokenreviews', verbs: ['create'], scope: 'cluster', why: "checks each pod's service-account token before signing" },
  { component: 'ca', group: '', resource: 'secrets', verbs: ['create'], scope: 'release', generatedTrustOnly: true, why: 'stores the root and issuer it generated on first start' },
  { component: 'ca', group: '', resource: 'secrets', verbs: ['get', 'update'], scope: 'release', names: ['<ca-secret>'], generatedTrustOnly: true, why: 'reads and renews its generated issuer' },
  { component: 'ca', group: '', resource: 'configmaps', verbs: ['create'], scope: 'release', generatedTrustOnly: true, why: 'publishes the generated root as weft-trust-anchors' },
  { component: 'ca', group: '', resource: 'configmaps', verbs: ['get', 'update'], scope: 'release', names: ['weft-trust-anchors'], generatedTrustOnly: true, why: 'keeps weft-trust-anchors in step with its root' },
  // weft destination: three cluster-wide list-and-watch loops (destination/cluster-index.ts) and two for policies (destination/policy-index.ts), no GET.
  { component: 'destination', group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'], scope: 'cluster', why: 'serves the endpoints of every service proxies ask for' },
  { component: 'destination', group: '', resource: 'services', verbs: ['list', 'watch'], scope: 'cluster', why: 'maps service ports to target ports and ClusterIPs to services' },
  { component: 'destination', group: '', resource: 'pods', verbs: ['list', 'watch'], scope: 'cluster', why: "learns each endpoint's service account (identity), IPs and meshed flag" },
  { component: 'destination', group: 'policy.weft.dev', resource: 'authorizationpolicies', verbs: ['list', 'watch'], scope: 'cluster', why: "serves each proxy its own namespace's authorization policies" },
  { component: 'destination', group: '', resource: 'namespaces', verbs: ['list', 'watch'], scope: 'cluster', why: "serves each proxy its namespace's default inbound policy (annotation)" },
  // weft destination's `routes` kind (destination/routes-kind.ts): mesh routes, list and watch only.
  { component: 'destination', group: 'gateway.networking.k8s.io', resource: 'httproutes', verbs: ['list', 'watch'], scope: 'cluster', why: 'serves the mesh routes (a Service parentRef) to proxies' },
  { component: 'destination', group: 'gateway.networking.k8s.io', resource: 'grpcroutes', verbs: ['list', 'watch'], scope: 'cluster', why: 'serves the mesh gRPC routes (a Service parentRef) to proxies' },
  ...DISCOVERY.map((d) => ({ ...d, component: 'gateway' as const })),
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'gateways', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'reads its listeners' },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'httproutes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'reads its routes' },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'grpcroutes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'reads its gRPC routes' },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'referencegrants', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'lets routes use backends and certificates in other namespaces' },
  { component: 'gateway', group: 'networking.k8s.io', resource: 'ingresses', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'reads Ingress routes' },
  { component: 'gateway', group: '', resource: 'namespaces', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: "matches listeners' allowedRoutes namespace selectors" },
  ...(['apikeypolicies', 'jwtpolicies', 'ratelimitpolicies', 'corspolicies', 'ipaccesspolicies', 'bodylimitpolicies', 'transformpolicies', 'cachepolicies'] as const).map((resource) => ({
    component: 'gateway' as const, group: 'weft.dev', resource, verbs: ['get', 'list', 'watch'] as const, scope: 'cluster' as const, why: 'reads the API policies attached to its routes',
  })),
  // Gateway API status (gateway/status/): one replica at a time, elected by a Lease.
  { component: 'gateway', group: 'coordination.k8s.io', resource: 'leases', verbs: ['create'], scope: 'release', why: 'creates the status Lease that elects the replica writing Gateway API status' },
  { component: 'gateway', group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'update'], scope: 'release', names: ['weft-gateway-status'], why: 'holds or watches for the status Lease' },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'gateways/status', verbs: ['update'], scope: 'cluster', why: "writes its Gateways' status (Accepted, Programmed, listeners, addresses)" },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'httproutes/status', verbs: ['update'], scope: 'cluster', why: "writes its routes' status (Accepted, ResolvedRefs per parentRef)" },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'grpcroutes/status', verbs: ['update'], scope: 'cluster', why: "writes its gRPC routes' status (Accepted, ResolvedRefs per parentRef)" },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'gatewayclasses', verbs: ['get'], scope: 'cluster', names: ['weft'], why: 'reads GatewayClass weft to accept it' },
  { component: 'gateway', group: 'gateway.networking.k8s.io', resource: 'gatewayclasses/status', verbs: ['update'], scope: 'cluster', names: ['weft'], why: 'marks GatewayClass weft Accepted' },
  { component: 'gateway', group: '', resource: 'secrets', verbs: ['get'], scope: 'gateway-tls', names: ['<tls-secret>'], why: 'reads by name the public TLS certificates it is told to serve' },
  { component: 'gateway', group: 'weft.dev', resource: 'consumers', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'reads the consumers of its APIs and their credentials' },
  // The injector's own webhook certificate (injector/webhook-cert.ts): one Secret, one webhook configuration.
  { component: 'injector', group: '', resource: 'secrets', verbs: ['get', 'update'], scope: 'release', names: ['weft-injector-self-tls'], injectorSelfTlsOnly: true, why: 'stores its webhook serving certificate and CA for its other replicas and restarts' },
  { component: 'injector', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verbs: ['get', 'patch'], scope: 'cluster', names: ['weft-injector'], injectorSelfTlsOnly: true, why: "keeps the webhook's caBundle in step with the CA it made" },
  { component: 'gateway', group: 'weft.dev', resource: 'plans', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: "reads the plans whose quotas it counts" },
];
