// Every failure weft reports, by stable code: the code, the HTTP status it maps to, and a summary.
// docs/errors.md documents each code; test/unit/lib/errors.test.ts fails when one is missing there.
// Codes are never reused once retired: retire by moving the row to RETIRED_CODES.

/** One row of the error table. */
export interface ErrorInfo {
  /** HTTP status a request failing with this code is answered with (0: not request-scoped). */
  readonly status: number;
  /** One line for docs and logs. */
  readonly summary: string;
}

/** The table of every live error code. */
export const ERROR_CODES = {
  WEFT_ERR_CONFIG: { status: 0, summary: 'configuration is invalid; every problem is listed at once' },
  WEFT_ERR_MESH_FILE: { status: 0, summary: 'the `weft up` mesh file is missing or invalid' },
  WEFT_ERR_USAGE: { status: 0, summary: 'a `weft` command was given an unknown command, flag or argument' },
  WEFT_ERR_INIT_REFUSED: { status: 0, summary: '`weft init` will not change rules outside a pod\'s init container without --apply' },
  WEFT_ERR_LISTEN: { status: 0, summary: 'a weft process cannot listen on its address (in use, not a local address, or not permitted)' },
  WEFT_ERR_FILE: { status: 0, summary: 'a file a weft command was pointed at cannot be read' },
  WEFT_ERR_CA_MATERIAL: { status: 0, summary: 'the CA directory or Secret holds no usable root/issuer' },
  WEFT_ERR_IDENTITY_INVALID: { status: 400, summary: 'an identity is not a spiffe://<td>/ns/<ns>/sa/<sa> URI' },
  WEFT_ERR_CSR_MALFORMED: { status: 400, summary: 'the CSR is not a PEM or DER PKCS#10 request' },
  WEFT_ERR_CSR_SIGNATURE: { status: 400, summary: "the CSR's self-signature does not verify" },
  WEFT_ERR_CSR_KEY_TYPE: { status: 400, summary: 'the CSR key is not ECDSA P-256' },
  WEFT_ERR_CA_BUSY: { status: 429, summary: 'weft ca is handling as many certificate requests as it may; retry after Retry-After seconds' },
  WEFT_ERR_ENDPOINTS_FILE: { status: 0, summary: 'the local endpoints file is invalid; the last good one stays' },
  WEFT_ERR_ROUTES_FILE: { status: 0, summary: 'the local mesh routes file is invalid; the routes in force stay' },
  WEFT_ERR_TRACE_EXPORT: { status: 0, summary: 'spans could not be sent to the OTLP endpoint (logged once until sending works again); requests are not affected' },
  WEFT_ERR_ROUTE_NO_BACKEND: { status: 500, summary: "the mesh route's matching rule has no backend with a weight above zero" },
  WEFT_ERR_BAD_REQUEST: { status: 400, summary: 'the request cannot be routed as sent (no Host, bad weft header)' },
  WEFT_ERR_UNKNOWN_SERVICE: { status: 502, summary: 'the Host / :authority names no mesh service' },
  WEFT_ERR_NO_ENDPOINTS: { status: 503, summary: 'the service has no ready endpoint' },
  WEFT_ERR_NOT_READY: { status: 503, summary: 'the proxy holds no certificate yet' },
  WEFT_ERR_CONNECT: { status: 502, summary: "the endpoint's sidecar could not be reached" },
  WEFT_ERR_PEER_TLS: { status: 502, summary: "the TLS handshake with the endpoint's sidecar failed" },
  WEFT_ERR_PEER_IDENTITY: { status: 502, summary: 'the peer presented an identity the service may not have' },
  WEFT_ERR_UPSTREAM_RESET: { status: 502, summary: 'the upstream closed or reset the stream before answering' },
  WEFT_ERR_APP_UNREACHABLE: { status: 502, summary: 'the inbound proxy could not reach the local app' },
  WEFT_ERR_TIMEOUT: { status: 504, summary: 'the upstream did not answer in time, or the request ran past its timeout (gRPC DEADLINE_EXCEEDED)' },
  WEFT_ERR_SHUTTING_DOWN: { status: 503, summary: 'the proxy is draining and takes no new requests' },
  WEFT_ERR_KUBE_CONFIG: { status: 0, summary: 'no usable cluster configuration (KUBECONFIG or in-cluster service account)' },
  WEFT_ERR_KUBE_UNREACHABLE: { status: 503, summary: 'the Kubernetes API server could not be reached or the connection broke' },
  WEFT_ERR_KUBE_API: { status: 502, summary: 'the Kubernetes API server answered with an unexpected error' },
  WEFT_ERR_KUBE_THROTTLED: { status: 503, summary: 'the Kubernetes API server asked to wait (429 or 503); weft ca passes its Retry-After on' },
  WEFT_ERR_UNAUTHENTICATED: { status: 401, summary: 'the bearer token is missing, expired, for another audience or not authenticated' },
  WEFT_ERR_NOT_FOUND: { status: 404, summary: 'no such path or method on a weft HTTP API (weft ca)' },
  WEFT_ERR_CA_REQUEST: { status: 0, summary: 'the sidecar could not obtain a certificate from weft ca; retried with backoff' },
  WEFT_ERR_CA_ISSUER_INVALID: { status: 503, summary: "weft ca's issuer is expired or not yet valid: it signs nothing until the issuer is renewed or replaced" },
  WEFT_ERR_CAPTURE_TOOLS: { status: 0, summary: '`weft init` cannot find iptables-save/iptables-restore (or ip6tables for --ipv6 on)' },
  WEFT_ERR_CAPTURE_DENIED: { status: 0, summary: '`weft init` may not change the nat table (needs root with NET_ADMIN and NET_RAW)' },
  WEFT_ERR_CAPTURE_APPLY: { status: 0, summary: 'iptables-restore refused the capture rules' },
  WEFT_ERR_ORIGINAL_DST_UNAVAILABLE: { status: 0, summary: 'the SO_ORIGINAL_DST native addon is not built or does not load' },
  WEFT_ERR_ORIGINAL_DST: { status: 502, summary: "a captured connection's original destination could not be read" },
  WEFT_ERR_EGRESS_DENIED: { status: 403, summary: 'the destination is outside the mesh and the registry-only egress policy does not list it' },
  WEFT_ERR_LOOP: { status: 508, summary: "the app dialled the proxy's own listener; forwarding it would loop" },
  WEFT_ERR_GATEWAY_FILE: { status: 0, summary: 'the gateway route file is invalid; the running routes stay' },
  WEFT_ERR_NO_ROUTE: { status: 404, summary: 'no gateway listener or route serves this host and path' },
  WEFT_ERR_MISDIRECTED: { status: 421, summary: 'the Host names a different listener than the TLS SNI' },
  WEFT_ERR_BACKEND_INVALID: { status: 500, summary: 'the route names a backend that cannot be resolved (unknown Service or kind)' },
  WEFT_ERR_UNAUTHORIZED: { status: 401, summary: 'the API key or JWT is missing or not valid' },
  WEFT_ERR_JWT_CLAIM: { status: 403, summary: 'the JWT is valid but lacks a claim value or scope the JwtPolicy requires' },
  WEFT_ERR_CLIENT_CERT: { status: 403, summary: 'the listener needs a client certificate from a trusted CA' },
  WEFT_ERR_IP_DENIED: { status: 403, summary: "the client's address is denied by an IP access policy" },
  WEFT_ERR_CORS_REJECTED: { status: 403, summary: 'the CORS preflight asks for an origin, method or header the policy does not allow' },
  WEFT_ERR_RATE_LIMITED: { status: 429, summary: 'the rate limit for this consumer, client, route or header value is used up' },
  WEFT_ERR_QUOTA_UNAVAILABLE: { status: 503, summary: "the plan quota backend (Redis) cannot answer and the gateway is set to fail closed" },
  WEFT_ERR_BODY_TOO_LARGE: { status: 413, summary: 'the request body is larger than the body limit policy (or the cap of a JSON body a transform policy edits) allows' },
  WEFT_ERR_BODY_NOT_JSON: { status: 400, summary: 'a transform policy edits this JSON request body, but the body is not valid JSON' },
  WEFT_ERR_ADMISSION_REVIEW: { status: 400, summary: 'the body sent to the injector is not a valid admission.k8s.io/v1 AdmissionReview' },
  WEFT_ERR_INJECT_NO_TRUST_ANCHORS: { status: 500, summary: 'the injector has no trust anchors to give the proxy, so it refuses to inject' },
  WEFT_ERR_INJECT_REJECTED: { status: 400, summary: 'the pod asks for injection with settings weft cannot apply (bad annotation value, port clash)' },
  WEFT_ERR_SERVING_CERT: { status: 0, summary: "the injector's serving certificate files are missing or invalid" },
  WEFT_ERR_MANIFEST: { status: 0, summary: '`weft inject` input is not valid Kubernetes YAML' },
  WEFT_ERR_APP_PROBE_UNKNOWN: { status: 404, summary: 'no original probe is recorded for this /app-probe/<container>/<kind> path' },
  WEFT_ERR_APP_PROBE_FAILED: { status: 503, summary: "the app's original probe, replayed by the proxy, failed" },
  WEFT_ERR_ADMIN_FORBIDDEN: { status: 403, summary: 'an admin route that shows request details or changes state (/debug/tap, /debug/recent-failures, /debug/cache/purge) was asked from a non-loopback address or relayed by a proxy (X-Forwarded-For)' },
  WEFT_ERR_CACHE_PURGE: { status: 400, summary: 'a cache purge names no route: POST /debug/cache/purge?route=<namespace>/<name>' },
  WEFT_ERR_CACHE_UNAVAILABLE: { status: 503, summary: "the response cache's Redis cannot answer (a purge could not reach it)" },
  WEFT_ERR_TAP_FILTER: { status: 400, summary: 'the tap filter is invalid (unknown field, a path not starting with /, a bad status or direction)' },
  WEFT_ERR_TAP_BUSY: { status: 429, summary: 'as many taps as a proxy allows are attached already' },
  WEFT_ERR_ADMIN_UNREACHABLE: { status: 0, summary: "`weft stat`, `top`, `tap` or `dashboard` could not read a proxy's admin port" },
  WEFT_ERR_FORBIDDEN: { status: 403, summary: "an authorization policy (or the pod's default inbound policy) denies this peer this request or connection" },
  WEFT_ERR_AUTHZ_POLICY: { status: 0, summary: 'an authorization policy is invalid; the last good policies stay' },
  WEFT_ERR_INTERNAL: { status: 500, summary: "a bug in weft itself failed this one request; the process keeps serving" },
} as const satisfies Record<string, ErrorInfo>;

/** Codes that once existed; listed so they are never handed out again. */
export const RETIRED_CODES: readonly string[] = [];

/** A live error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code; what every weft module throws for an expected failure. */
export class WeftError extends Error {
  /** Stable code, documented in docs/errors.md. */
  readonly code: ErrorCode;
  /** HTTP status from the table. */
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WeftError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }
}

/** True for a WeftError, optionally of one code. */
export function isWeftError(err: unknown, code?: ErrorCode): err is WeftError {
  return err instanceof WeftError && (code === undefined || err.code === code);
}
