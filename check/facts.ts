// What `weft check` learns about a cluster, as plain data: gathered once by check/gather.ts,
// then judged by the pure checks in check/checks.ts (which tests feed directly).
import type { KubeAccess } from '../lib/kube/access.js';
import type { ReadKind } from '../lib/kube/kinds.js';

/** Something read from the API server: its value, or why it could not be read. */
export type Fetched<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly missing: boolean; readonly error: string };

/** The API server's version. */
export interface VersionFact {
  readonly gitVersion: string;
  readonly major: number;
  readonly minor: number;
}

/** A weft Deployment's rollout state and its first container's plain env values. */
export interface DeploymentFact {
  readonly desired: number;
  readonly ready: number;
  readonly env: Readonly<Record<string, string>>;
  /** Secret volumes by volume name (the injector's serving certificate, the CA's issuer). */
  readonly secretVolumes: Readonly<Record<string, string>>;
}

/** One SubjectAccessReview: may this subject do what one table row needs? */
export interface AccessReviewFact {
  /** Who was asked about: "weft-ca", "weft-gateway", or "proxies in <ns>". */
  readonly subject: string;
  readonly row: KubeAccess;
  readonly verb: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly allowed: boolean;
}

/** One webhook entry of the MutatingWebhookConfiguration. */
export interface WebhookEntryFact {
  readonly name: string;
  readonly failurePolicy: string;
  readonly service?: { readonly name: string; readonly namespace: string; readonly path?: string };
  /** PEM decoded from clientConfig.caBundle ('' when absent). */
  readonly caBundlePem: string;
}

/** The injector's serving certificate chain and where it was read from. */
export interface ServingCertFact {
  readonly chainPem: string;
  /** "the Secret weft-system/weft-injector-tls" or "https://127.0.0.1:8443 (live)". */
  readonly source: string;
}

/** The webhook as the API server would see it. */
export interface WebhookFacts {
  readonly config: Fetched<readonly WebhookEntryFact[]>;
  readonly serving: Fetched<ServingCertFact>;
  /** Ready endpoints behind the weft-injector Service. */
  readonly readyEndpoints: Fetched<number>;
  /** A live HTTPS request to the injector, verified with the caBundle (only with --injector-url). */
  readonly probe?: { readonly url: string; readonly ok: boolean; readonly error?: string };
}

/** A pod in a namespace labelled for injection. */
export interface PodFact {
  readonly name: string;
  readonly phase: string;
  /** "deployment/web" style owner, for the advice. */
  readonly owner?: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly hostNetwork: boolean;
  /** The weft-proxy container (native sidecar or regular), when the pod has one. */
  readonly proxy?: { readonly ready: boolean; readonly restarts: number };
  /**
   * The trust anchors PEM in the weft-proxy container's env WEFT_TRUST_ANCHORS (what the injector
   * wrote when the pod was created); undefined when the proxy has none (injected before weft put
   * them in the env, or WEFT_TRUST_ANCHORS_FILE set by hand).
   */
  readonly proxyTrustAnchors?: string;
  /** The proxy's certificate expiry from its /metrics, for injected running pods. */
  readonly certNotAfter?: Fetched<Date>;
}

/** A namespace labelled weft.dev/inject=enabled and its pods. */
export interface NamespaceFact {
  readonly name: string;
  readonly pods: readonly PodFact[];
}

/** A kind weft reads, and whether the API server's discovery lists it at that version. */
export interface KindFact extends ReadKind {
  readonly served: boolean;
}

/** The AuthorizationPolicies of the cluster and the meshed pods of their namespaces. */
export interface AuthorizationFacts {
  /** Each AuthorizationPolicy object as the API server returned it. */
  readonly policies: readonly unknown[];
  /** namespace -> the labels of each pod there that runs a weft proxy. */
  readonly meshedPods: Readonly<Record<string, readonly { readonly name: string; readonly labels: Readonly<Record<string, string>> }[]>>;
}

/** Everything the checks judge. */
export interface ClusterFacts {
  /** Namespace weft is installed in. */
  readonly weftNamespace: string;
  /** The API server address, for messages. */
  readonly server: string;
  readonly version: Fetched<VersionFact>;
  /** Access reviews; not ok when weft check may not run SubjectAccessReviews. */
  readonly access: Fetched<readonly AccessReviewFact[]>;
  readonly ca: Fetched<DeploymentFact>;
  readonly injector: Fetched<DeploymentFact>;
  /** The gateway is optional (gateway.enabled=false): missing is not a failure. */
  readonly gateway: Fetched<DeploymentFact>;
  /** roots.pem of the weft-trust-anchors ConfigMap. */
  readonly trustAnchors: Fetched<string>;
  /** The issuer certificate (tls.crt) and the Secret it came from. */
  readonly issuer: Fetched<{ readonly secret: string; readonly certPem: string }>;
  readonly webhook: WebhookFacts;
  readonly namespaces: Fetched<readonly NamespaceFact[]>;
  /** The kinds weft reads and which of them the API server serves (absent: not gathered). */
  readonly apiKinds?: Fetched<readonly KindFact[]>;
  /** AuthorizationPolicies and the meshed pods they could target (absent: not gathered). */
  readonly authorization?: Fetched<AuthorizationFacts>;
}
