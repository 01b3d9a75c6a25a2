// Who may call the test API server and what they may do: static bearer tokens and HS256-signed
// service-account JWTs (bound to their ServiceAccount and pod, as projected tokens are), the
// authorizer, and the TokenReview and Self/SubjectAccessReview APIs built on them.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ObjectStore } from './object-store.js';
import { API_AUDIENCE, StatusError, type RequestAttributes, type TokenOptions, type UserInfo } from './resources.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
  };
}

/** Authentication, authorization and the review APIs. */
export class AccessControl {
  readonly #store: ObjectStore;
  readonly #tokenKey = randomBytes(32);
  readonly #staticTokens = new Map<string, UserInfo>();
  #authorizer: (attrs: RequestAttributes) => boolean = () => true;

  /** The store holds the ServiceAccounts and pods tokens are bound to. */
  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** Replaces the authorizer (default: every authenticated user may do everything). */
  setAuthorizer(authorize: (attrs: RequestAttributes) => boolean): void {
    this.#authorizer = authorize;
  }

  /** Registers a static bearer token for a user. */
  addUserToken(token: string, user: UserInfo): void {
    this.#staticTokens.set(token, user);
  }

  /**
   * Issues a projected service-account token (a signed JWT like the kubelet's); the namespace and
   * the ServiceAccount are created when missing, as they exist for any real pod.
   */
  issueToken(opts: TokenOptions): string {
    this.#store.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: opts.namespace }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    const sa = this.#store.ensure({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: opts.serviceAccount, namespace: opts.namespace } });
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: ISSUER,
      sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`,
      aud: [...(opts.audiences ?? [API_AUDIENCE])],
      exp: Math.floor((opts.expiresAt?.getTime() ?? Date.now() + 3_600_000) / 1000),
      iat: now,
      nbf: now,
      'kubernetes.io': {
        namespace: opts.namespace,
        serviceaccount: { name: opts.serviceAccount, uid: sa.metadata.uid ?? '' },
        ...(opts.pod ? { pod: { name: opts.pod.name, uid: opts.pod.uid ?? '' } } : {}),
      },
    };
    return this.#signJwt(claims);
  }

  /** A JWT with the same shape as issueToken's but signed by another key: what a forger holds. */
  forgeToken(opts: TokenOptions): string {
    const real = this.issueToken(opts);
    const [header, payload] = real.split('.');
    const sig = createHmac('sha256', randomBytes(32)).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }


  /** The caller of a request from its bearer token (static, or a valid service-account JWT). */
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || !m[1]) return undefined;
    const token = m[1];
    const user = this.#staticTokens.get(token);
    if (user) return user;
    const review = this.#reviewToken(token, [API_AUDIENCE]);
    return review.authenticated ? review.user : undefined;
  }

  /** Throws 403 with the real server's message unless the user may do it. */
  authorize(user: UserInfo, verb: string, group: string, resource: string, namespace?: string, name?: string, subresource?: string): void {
    const attrs: RequestAttributes = {
      user, verb, group, resource,
      ...(namespace === undefined ? {} : { namespace }),
      ...(name === undefined ? {} : { name }),
      ...(subresource === undefined ? {} : { subresource }),
    };
    if (user.groups.includes('system:masters') || this.#authorizer(attrs)) return;
    const what = subresource ? `${resource}/${subresource}` : resource;
    const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
    const named = name ? `${what} "${name}"` : what;
    throw new StatusError(403, 'Forbidden', `${group === '' ? named : named.replace(resource, `${resource}.${group}`)} is forbidden: User "${user.username}" cannot ${verb} resource "${what}" in API group "${group}" ${where}`, {
      ...(name ? { name } : {}),
      ...(group === '' ? {} : { group }),
      kind: resource,
    });
  }

  #signJwt(claims: TokenClaims): string {
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'test-apiserver' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const sig = createHmac('sha256', this.#tokenKey).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }

  #reviewToken(token: string, audiences: readonly string[]): { authenticated: boolean; user?: UserInfo; audiences?: string[]; error?: string } {
    const staticUser = this.#staticTokens.get(token);
    if (staticUser) return { authenticated: true, user: staticUser, audiences: [...audiences] };
    const parts = token.split('.');
    if (parts.length !== 3) return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    const [header = '', payload = '', sig = ''] = parts;
    const expected = createHmac('sha256', this.#tokenKey).update(`${header}.${payload}`).digest();
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { authenticated: false, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' };
    }
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    }
    if (claims.exp * 1000 <= Date.now()) {
      return { authenticated: false, error: '[invalid bearer token, square/go-jose/jwt: validation failed, token is expired (exp)]' };
    }
    const granted = audiences.filter((a) => claims.aud.includes(a));
    if (granted.length === 0) {
      return { authenticated: false, error: `[invalid bearer token, token audiences ${JSON.stringify(claims.aud)} is invalid for the target audiences ${JSON.stringify(audiences)}]` };
    }
    const k = claims['kubernetes.io'];
    const sa = this.#store.find('v1', 'ServiceAccount', k.namespace, k.serviceaccount.name);
    if (!sa || sa.metadata.uid !== k.serviceaccount.uid) {
      return { authenticated: false, error: `[invalid bearer token, service account ${k.namespace}/${k.serviceaccount.name} has been deleted]` };
    }
    if (k.pod) {
      const pod = this.#store.find('v1', 'Pod', k.namespace, k.pod.name);
      if (!pod || (k.pod.uid !== '' && pod.metadata.uid !== k.pod.uid)) {
        return { authenticated: false, error: `[invalid bearer token, pod ${k.namespace}/${k.pod.name} has been deleted]` };
      }
    }
    return {
      authenticated: true,
      audiences: granted,
      user: {
        username: claims.sub,
        uid: k.serviceaccount.uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
        ...(k.pod ? { extra: { 'authentication.kubernetes.io/pod-name': [k.pod.name], 'authentication.kubernetes.io/pod-uid': [k.pod.uid] } } : {}),
      },
    };
  }

  /** POST tokenreviews: is spec.token valid for spec.audiences, and whose is it? */
  tokenReview(body: unknown): unknown {
    const review = (body ?? {}) as { apiVersion?: string; kind?: string; spec?: { token?: unknown; audiences?: unknown } };
    if (review.kind !== undefined && review.kind !== 'TokenReview') {
      throw new StatusError(400, 'BadRequest', `the kind in the data (${review.kind}) does not match the expected kind (TokenReview)`);
    }
    const token = review.spec?.token;
    if (typeof token !== 'string' || token === '') {
      throw new StatusError(422, 'Invalid', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value', {
        group: 'authentication.k8s.io',
        kind: 'TokenReview',
        causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.token' }],
      });
    }
    const requested = Array.isArray(review.spec?.audiences) ? (review.spec.audiences as unknown[]).filter((a): a is string => typeof a === 'string') : [];
    const result = this.#reviewToken(token, requested.length > 0 ? requested : [API_AUDIENCE]);
    return {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { token, ...(requested.length > 0 ? { audiences: requested } : {}) },
      status: result.authenticated
        ? { authenticated: true, user: result.user, audiences: result.audiences }
        : { user: {}, error: result.error },
    };
  }

  /** SubjectAccessReview: may spec.user (with spec.groups) do resourceAttributes? */
  subjectAccessReview(body: unknown): unknown {
    const spec = ((body ?? {}) as { spec?: { user?: string; groups?: string[]; uid?: string; resourceAttributes?: Record<string, string> } }).spec ?? {};
    if (!spec.user && (!spec.groups || spec.groups.length === 0)) {
      throw new StatusError(422, 'Invalid', 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified');
    }
    const subject: UserInfo = { username: spec.user ?? '', uid: spec.uid ?? '', groups: spec.groups ?? [] };
    const ra = spec.resourceAttributes;
    const allowed = subject.groups.includes('system:masters') || (ra !== undefined && this.#authorizer({
      user: subject,
      verb: ra['verb'] ?? '',
      group: ra['group'] ?? '',
      resource: ra['resource'] ?? '',
      ...(ra['namespace'] ? { namespace: ra['namespace'] } : {}),
      ...(ra['name'] ? { name: ra['name'] } : {}),
      ...(ra['subresource'] ? { subresource: ra['subresource'] } : {}),
    }));
    return { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: { allowed } };
  }


  /** POST selfsubjectaccessreviews: may the caller do resourceAttributes? */
  selfSubjectAccessReview(user: UserInfo, body: unknown): unknown {
    const spec = ((body ?? {}) as { spec?: { resourceAttributes?: Record<string, string>; nonResourceAttributes?: Record<string, string> } }).spec ?? {};
    const ra = spec.resourceAttributes;
    let allowed = user.groups.includes('system:masters');
    if (!allowed && ra) {
      allowed = this.#authorizer({
        user,
        verb: ra['verb'] ?? '',
        group: ra['group'] ?? '',
        resource: ra['resource'] ?? '',
        ...(ra['namespace'] ? { namespace: ra['namespace'] } : {}),
        ...(ra['name'] ? { name: ra['name'] } : {}),
        ...(ra['subresource'] ? { subresource: ra['subresource'] } : {}),
      });
    }
    return {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed, ...(allowed && user.groups.includes('system:masters') ? { reason: 'system:masters' } : {}) },
    };
  }
}
