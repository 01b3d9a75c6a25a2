// The vocabulary of the test API server: objects, resource types, callers, Status errors, the
// built-in resource types, and the small helpers every part of the server shares.

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: KubeMeta;
  [field: string]: unknown;
}

/** The metadata fields the server reads and writes. */
export interface KubeMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A served resource type. */
export interface ResourceDef {
  /** API group, '' for core. */
  readonly group: string;
  readonly version: string;
  /** Plural, as in the URL. */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Main-resource writes keep the stored status; /status writes change only status. */
  readonly statusSubresource?: boolean;
  /** Extra field selectors beyond metadata.name and metadata.namespace. */
  readonly fields?: Readonly<Record<string, (obj: KubeObject) => string | undefined>>;
}

/** The authenticated caller. */
export interface UserInfo {
  readonly username: string;
  readonly uid: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** What an authorizer decides on, as in SubjectAccessReview resourceAttributes. */
export interface RequestAttributes {
  readonly user: UserInfo;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** Options for a projected service-account token. */
export interface TokenOptions {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Default: the API server's own audience. */
  readonly audiences?: readonly string[];
  /** Default: one hour from now. */
  readonly expiresAt?: Date;
  /** Binds the token to a pod: it stops authenticating once the pod is gone. */
  readonly pod?: { readonly name: string; readonly uid?: string };
}

/** Server options. */
export interface TestApiServerOptions {
  readonly host?: string;
  readonly port?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK (the real server: about 1 min). */
  readonly bookmarkIntervalMs?: number;
  /** Watch length when the client sends no timeoutSeconds (the real server: 30-60 min). */
  readonly defaultWatchTimeoutSeconds?: number;
  /** Events kept for watches from an older resourceVersion (the real watch cache is bounded too). */
  readonly historyLimit?: number;
  /** What GET /version reports (default v1.31.0), e.g. to test version checks. */
  readonly gitVersion?: string;
}

/** The default API audience of a cluster's service-account tokens. */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

/** The resource types the server starts with; more can be added with addResource. */
export const BUILTIN_RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, statusSubresource: true, fields: { 'status.phase': (o) => str(o, 'status', 'phase') } },
  {
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, statusSubresource: true,
    fields: {
      'spec.nodeName': (o) => str(o, 'spec', 'nodeName') ?? '',
      'spec.serviceAccountName': (o) => str(o, 'spec', 'serviceAccountName') ?? '',
      'status.phase': (o) => str(o, 'status', 'phase') ?? '',
      'status.podIP': (o) => str(o, 'status', 'podIP') ?? '',
    },
  },
  { group: '', version: 'v1', resource: 'services', singular: 'service', kind: 'Service', namespaced: true, statusSubresource: true },
  { group: '', version: 'v1', resource: 'endpoints', singular: 'endpoints', kind: 'Endpoints', namespaced: true },
  { group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, fields: { type: (o) => (typeof o['type'] === 'string' ? o['type'] : '') } },
  { group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', namespaced: true, fields: { addressType: (o) => (typeof o['addressType'] === 'string' ? o['addressType'] : '') } },
  { group: 'apps', version: 'v1', resource: 'deployments', singular: 'deployment', kind: 'Deployment', namespaced: true, statusSubresource: true },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', singular: 'ingress', kind: 'Ingress', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gateways', singular: 'gateway', kind: 'Gateway', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', singular: 'httproute', kind: 'HTTPRoute', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'grpcroutes', singular: 'grpcroute', kind: 'GRPCRoute', namespaced: true, statusSubresource: true },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', singular: 'lease', kind: 'Lease', namespaced: true },
  { group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingwebhookconfigurations', singular: 'mutatingwebhookconfiguration', kind: 'MutatingWebhookConfiguration', namespaced: false },
];

/** A string field two levels down (o[a][b]), or undefined. */
export function str(o: KubeObject, a: string, b: string): string | undefined {
  const inner = o[a];
  if (inner && typeof inner === 'object') {
    const v = (inner as Record<string, unknown>)[b];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** A Kubernetes Status object. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason: string; message: string; field?: string }[]; retryAfterSeconds?: number };
  code: number;
}

/** An error answered with a Status object. */
export class StatusError extends Error {
  readonly status: KubeStatus;
  constructor(code: number, reason: string, message: string, details?: KubeStatus['details']) {
    super(message);
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
  }
}

/** "resource.group" (just "resource" for the core group), as in Status messages. */
export function qualified(def: ResourceDef): string {
  return def.group === '' ? def.resource : `${def.resource}.${def.group}`;
}

/** The 404 Status the real server answers for a missing object. */
export function notFound(def: ResourceDef, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${qualified(def)} "${name}" not found`, {
    name,
    ...(def.group === '' ? {} : { group: def.group }),
    kind: def.resource,
  });
}

/** "group/version" (just "version" for the core group). */
export function apiVersionOf(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

/** The store key of an object: "namespace/name" for namespaced types, "name" otherwise. */
export function keyOf(def: ResourceDef, namespace: string | undefined, name: string): string {
  return def.namespaced ? `${namespace ?? ''}/${name}` : name;
}

/** A deep copy through JSON, so callers never hold the stored object. */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
