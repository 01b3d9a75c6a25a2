// Proves a pod's identity from its projected service-account token with the TokenReview API.
// The decision (is this review a weft identity?) is pure; the shell only sends the review.
import { formatIdentity } from '../lib/identity.js';
import { isWeftError, WeftError } from '../lib/errors.js';
import { KubeApiError, resourcePath, type KubeClient } from '../lib/kube/client.js';

/** What a review proved. */
export type ReviewOutcome =
  | { readonly authenticated: true; readonly identity: string; readonly username: string }
  | { readonly authenticated: false; readonly reason: string };

/**
 * The API server asked to wait (429 or 503 to the TokenReview): WEFT_ERR_KUBE_THROTTLED, carrying
 * how many seconds the CA's client should wait (its Retry-After).
 */
export class KubeThrottledError extends WeftError {
  /** Whole seconds to wait, at least 1. */
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super('WEFT_ERR_KUBE_THROTTLED', message);
    this.name = 'KubeThrottledError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The Retry-After (seconds) an error asks its HTTP answer to carry, if any. */
export function retryAfterSecondsOf(err: unknown): number | undefined {
  return err instanceof KubeThrottledError ? err.retryAfterSeconds : undefined;
}

/** client-go waits 1 s on a 429 that names no Retry-After; so does weft ca. */
export const DEFAULT_THROTTLE_WAIT_MS = 1000;

/** Checks tokens; throws WEFT_ERR_KUBE_UNREACHABLE / WEFT_ERR_KUBE_API / WEFT_ERR_KUBE_THROTTLED when it cannot tell. */
export interface TokenReviewer {
  review(token: string): Promise<ReviewOutcome>;
}

/** The status part of a TokenReview answer. */
export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly user?: { readonly username?: string };
  readonly audiences?: readonly string[];
  readonly error?: string;
}

/**
 * Turns a TokenReview status into an identity (pure). The token must be authenticated, for our
 * audience (an API server that ignores audiences answers none: refused, as the API docs advise),
 * and name a service account.
 */
export function outcomeFromReview(status: TokenReviewStatus | undefined, audience: string, trustDomain: string): ReviewOutcome {
  if (!status?.authenticated) return { authenticated: false, reason: status?.error || 'token not authenticated' };
  if (!status.audiences?.includes(audience)) {
    return { authenticated: false, reason: `token is not for audience ${JSON.stringify(audience)}` };
  }
  const username = status.user?.username ?? '';
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (!m) return { authenticated: false, reason: `${JSON.stringify(username)} is not a service account` };
  try {
    return { authenticated: true, username, identity: formatIdentity({ trustDomain, namespace: m[1] ?? '', serviceAccount: m[2] ?? '' }) };
  } catch (err) {
    if (isWeftError(err)) return { authenticated: false, reason: err.message };
    throw err;
  }
}

/** Reviews tokens against the API server. */
export class KubeTokenReviewer implements TokenReviewer {
  readonly #client: KubeClient;
  readonly #audience: string;
  readonly #trustDomain: string;
  readonly #now: () => number;
  /** No review is sent before this time (ms): the API server asked to wait until then. */
  #notBefore = 0;

  /** `now`: the clock of Retry-After waits (Date.now by default). */
  constructor(client: KubeClient, audience: string, trustDomain: string, now: () => number = Date.now) {
    this.#client = client;
    this.#audience = audience;
    this.#trustDomain = trustDomain;
    this.#now = now;
  }

  async review(token: string): Promise<ReviewOutcome> {
    const now = this.#now();
    // Honoured for every request, not just the one that got the 429: an overloaded API server
    // gets no TokenReview from this CA until the time it named.
    if (now < this.#notBefore) {
      throw new KubeThrottledError('the API server asked to wait before the next TokenReview', Math.max(1, Math.ceil((this.#notBefore - now) / 1000)));
    }
    let answer: { status?: TokenReviewStatus };
    try {
      answer = await this.#client.request<{ status?: TokenReviewStatus }>(
        'POST',
        resourcePath({ group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews' }),
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.#audience] } },
      );
    } catch (err) {
      if (err instanceof KubeApiError && (err.apiStatus === 429 || err.apiStatus === 503)) {
        const waitMs = Math.max(err.retryAfterMs ?? DEFAULT_THROTTLE_WAIT_MS, 1000);
        this.#notBefore = Math.max(this.#notBefore, this.#now() + waitMs);
        throw new KubeThrottledError(`TokenReview: the API server answered ${err.apiStatus}: ${err.message}`, Math.ceil(waitMs / 1000));
      }
      throw err;
    }
    if (!answer || typeof answer !== 'object') throw new WeftError('WEFT_ERR_KUBE_API', 'TokenReview answer is not an object');
    return outcomeFromReview(answer.status, this.#audience, this.#trustDomain);
  }
}
