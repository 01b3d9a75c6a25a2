// Proves a pod's identity from its projected service-account token with the TokenReview API.
// The decision (is this review a weft identity?) is pure; the shell only sends the review.
import { formatIdentity } from '../lib/identity.js';
import { isWeftError, WeftError } from '../lib/errors.js';
import { resourcePath, type KubeClient } from '../lib/kube/client.js';

/** What a review proved. */
export type ReviewOutcome =
  | { readonly authenticated: true; readonly identity: string; readonly username: string }
  | { readonly authenticated: false; readonly reason: string };

/** Checks tokens; throws WEFT_ERR_KUBE_UNREACHABLE / WEFT_ERR_KUBE_API when it cannot tell. */
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

  constructor(client: KubeClient, audience: string, trustDomain: string) {
    this.#client = client;
    this.#audience = audience;
    this.#trustDomain = trustDomain;
  }

  async review(token: string): Promise<ReviewOutcome> {
    const answer = await this.#client.request<{ status?: TokenReviewStatus }>(
      'POST',
      resourcePath({ group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews' }),
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.#audience] } },
    );
    if (!answer || typeof answer !== 'object') throw new WeftError('WEFT_ERR_KUBE_API', 'TokenReview answer is not an object');
    return outcomeFromReview(answer.status, this.#audience, this.#trustDomain);
  }
}
