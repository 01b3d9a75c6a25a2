// The Gateway API `CORS` filter: parsed from an HTTPRoute, then the upstream HTTPRouteCORS
// conformance cases (preflight and actual requests) replayed on the decisions it shares with
// CorsPolicy; and the parser's refusals.
import t from 'tap';
import { parseResources } from '../../../gateway/routes/resources.js';
import { actualResponseHeaders, isPreflight, preflightResponse, type CorsConfig } from '../../../gateway/policies/cors-core.js';

// cors-1 and cors-2 are the upstream manifest's routes; the wildcard ones are written from what
// the upstream cases expect of them (any origin; any method and header, with and without credentials).
const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cors, namespace: infra }
spec:
  parentRefs: [{ name: same-namespace }]
  rules:
    - name: cors-1
      matches: [{ path: { type: PathPrefix, value: /cors-1 } }]
      filters:
        - type: CORS
          cors:
            allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
            allowMethods: [GET, OPTIONS]
            allowHeaders: [x-header-1, x-header-2]
            exposeHeaders: [x-header-3, x-header-4]
            allowCredentials: true
            maxAge: 3600
      backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    - name: cors-2
      matches: [{ path: { type: PathPrefix, value: /cors-2 } }]
      filters: [{ type: CORS, cors: { allowOrigins: ["https://www.foo.com"], allowMethods: ["*"] } }]
      backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    - name: wildcard-origin
      matches: [{ path: { type: PathPrefix, value: /cors-wildcard-origin } }]
      filters: [{ type: CORS, cors: { allowOrigins: ["*"], allowMethods: [PUT] } }]
      backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    - name: wildcard-auth
      matches: [{ path: { type: Exact, value: /cors-wildcard-methods-headers } }]
      filters: [{ type: CORS, cors: { allowOrigins: ["*"], allowMethods: ["*"], allowHeaders: ["*"], allowCredentials: true } }]
      backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    - name: wildcard-unauth
      matches: [{ path: { type: Exact, value: /cors-wildcard-methods-headers-unauth } }]
      filters: [{ type: CORS, cors: { allowOrigins: ["*"], allowMethods: ["*"], allowHeaders: ["*"] } }]
      backendRefs: [{ name: infra-backend-v1, port: 8080 }]
`;

function configs(): Map<string, CorsConfig> {
  const parsed = parseResources(ROUTES, 'cors.yaml');
  if (parsed.problems.length > 0) throw new Error(parsed.problems.join('\n'));
  const out = new Map<string, CorsConfig>();
  for (const rule of parsed.resources.routes[0]?.rules ?? []) {
    for (const f of rule.filters) if (f.type === 'CORS') out.set(rule.name ?? '', f.cors);
  }
  return out;
}

interface Case {
  readonly name: string;
  readonly rule: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  /** Allowed statuses (actual requests: the gateway adds headers, the backend answers 200). */
  readonly statuses?: readonly number[];
  /** Header -> allowed values (whitespace ignored, as upstream). */
  readonly valid?: Record<string, readonly string[]>;
  readonly absent?: readonly string[];
}

const pre = (origin: string, method: string, hdrs?: string): Record<string, string> => ({
  origin,
  'access-control-request-method': method,
  ...(hdrs ? { 'access-control-request-headers': hdrs } : {}),
});
const ALL_1 = {
  'access-control-allow-methods': ['GET, OPTIONS', 'OPTIONS, GET'],
  'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1'],
  'access-control-expose-headers': ['x-header-3, x-header-4', 'x-header-4, x-header-3'],
  'access-control-max-age': ['3600'],
  'access-control-allow-credentials': ['true'],
};

// The upstream HTTPRouteCORS cases, in their order.
const CASES: Case[] = [
  { name: 'preflight from an exact matching origin is allowed', rule: 'cors-1', method: 'OPTIONS', headers: pre('https://www.foo.com', 'GET', 'x-header-1, x-header-2'), statuses: [200, 204], valid: { 'access-control-allow-origin': ['https://www.foo.com'], ...ALL_1 } },
  { name: 'preflight from a wildcard matching origin is allowed', rule: 'cors-1', method: 'OPTIONS', headers: pre('https://www.bar.com', 'GET', 'x-header-1, x-header-2'), statuses: [200], valid: { 'access-control-allow-origin': ['https://www.bar.com'], ...ALL_1 } },
  { name: 'a wildcard matches any number of labels left of *', rule: 'cors-1', method: 'OPTIONS', headers: pre('https://xpto.www.bar.com', 'GET', 'x-header-1, x-header-2'), statuses: [200], valid: { 'access-control-allow-origin': ['https://xpto.www.bar.com'], ...ALL_1 } },
  { name: 'preflight from a non-matching origin is not allowed', rule: 'cors-1', method: 'OPTIONS', headers: pre('https://foobar.com', 'GET'), statuses: [200, 204, 403], absent: ['access-control-allow-origin'] },
  { name: 'simple request from an exact matching origin is allowed', rule: 'cors-1', method: 'GET', headers: pre('https://www.foo.com', 'GET', 'x-header-1, x-header-2'), valid: { 'access-control-allow-origin': ['https://www.foo.com'] } },
  { name: 'simple request from a wildcard matching origin is allowed', rule: 'cors-1', method: 'GET', headers: pre('https://www.bar.com', 'GET', 'x-header-1, x-header-2'), valid: { 'access-control-allow-origin': ['https://www.bar.com'] } },
  { name: 'simple request from a non-matching origin is not allowed', rule: 'cors-1', method: 'GET', headers: pre('https://foobar.com', 'GET'), absent: ['access-control-allow-origin'] },
  { name: 'preflight POST is allowed by allowMethods *', rule: 'cors-2', method: 'OPTIONS', headers: pre('https://www.foo.com', 'POST'), statuses: [200, 204], valid: { 'access-control-allow-methods': ['POST', '*'], 'access-control-allow-origin': ['https://www.foo.com'] }, absent: ['access-control-allow-credentials'] },
  { name: 'no allow-credentials without allowCredentials', rule: 'cors-2', method: 'OPTIONS', headers: pre('https://www.foo.com', 'POST'), absent: ['access-control-allow-credentials'] },
  { name: 'preflight from any origin on a * origin list: * or the origin', rule: 'wildcard-origin', method: 'OPTIONS', headers: pre('https://foobar.com', 'PUT'), statuses: [200, 204], valid: { 'access-control-allow-origin': ['https://foobar.com', '*'], 'access-control-allow-methods': ['PUT'] }, absent: ['access-control-allow-credentials'] },
  { name: 'preflight from an origin with a port', rule: 'wildcard-origin', method: 'OPTIONS', headers: pre('https://foobar.com:12345', 'PUT'), statuses: [200, 204], valid: { 'access-control-allow-origin': ['https://foobar.com:12345', '*'], 'access-control-allow-methods': ['PUT'] }, absent: ['access-control-allow-credentials'] },
  { name: 'actual request from an origin with a port', rule: 'wildcard-origin', method: 'PUT', headers: { origin: 'https://foobar.com:12345' }, valid: { 'access-control-allow-origin': ['https://foobar.com:12345', '*'] } },
  { name: 'actual request from any origin', rule: 'wildcard-origin', method: 'PUT', headers: { origin: 'https://foobar.com' }, valid: { 'access-control-allow-origin': ['https://foobar.com', '*'] }, absent: ['access-control-allow-credentials'] },
  { name: 'preflight with credentials echoes origin, method and headers', rule: 'wildcard-auth', method: 'OPTIONS', headers: pre('https://other.foo.com', 'PUT', 'x-header-1, x-header-2'), statuses: [200], valid: { 'access-control-allow-origin': ['https://other.foo.com'], 'access-control-allow-methods': ['PUT'], 'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1'], 'access-control-allow-credentials': ['true'] } },
  { name: 'preflight without credentials hides them', rule: 'wildcard-unauth', method: 'OPTIONS', headers: pre('https://other.foo.com', 'PUT', 'x-header-1, x-header-2'), statuses: [200], valid: { 'access-control-allow-origin': ['https://other.foo.com', '*'], 'access-control-allow-methods': ['PUT', '*'], 'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1', '*'] }, absent: ['access-control-allow-credentials'] },
  { name: 'actual request with credentials echoes the origin', rule: 'wildcard-auth', method: 'GET', headers: { origin: 'https://other.foo.com', authorization: 'Bearer test' }, valid: { 'access-control-allow-origin': ['https://other.foo.com'], 'access-control-allow-credentials': ['true'] } },
  { name: 'actual request without credentials hides them', rule: 'wildcard-unauth', method: 'GET', headers: { origin: 'https://other.foo.com', authorization: 'Bearer test' }, valid: { 'access-control-allow-origin': ['https://other.foo.com', '*'] }, absent: ['access-control-allow-credentials'] },
];

/** What the gateway answers for one case: a preflight's own answer, or the headers added to the backend's 200. */
function corsAnswer(cfg: CorsConfig, method: string, headers: Record<string, string>): { status: number; headers: Record<string, string> } {
  if (isPreflight(method, headers)) return preflightResponse(cfg, headers.origin ?? '', headers['access-control-request-method'] ?? '', headers['access-control-request-headers']);
  return { status: 200, headers: actualResponseHeaders(cfg, headers.origin) };
}

t.test('the upstream HTTPRouteCORS cases pass on the CORS filter', async (t) => {
  const cfgs = configs();
  const squash = (v: string): string => v.replace(/\s+/g, '');
  for (const c of CASES) {
    const cfg = cfgs.get(c.rule);
    if (!cfg) {
      t.fail(`no CORS filter parsed for ${c.rule}`);
      continue;
    }
    const a = corsAnswer(cfg, c.method, c.headers);
    if (c.statuses) t.ok(c.statuses.includes(a.status), `${c.name}: status ${a.status} in ${c.statuses.join('/')}`);
    for (const [h, allowed] of Object.entries(c.valid ?? {})) {
      const got = a.headers[h];
      t.ok(got !== undefined && allowed.map(squash).includes(squash(got)), `${c.name}: ${h} ${JSON.stringify(got)} in ${JSON.stringify(allowed)}`);
    }
    for (const h of c.absent ?? []) t.equal(a.headers[h.toLowerCase()], undefined, `${c.name}: no ${h}`);
  }
});

t.test('the filter defaults maxAge to 5 s and answers preflights 200; CorsPolicy keeps 204', async (t) => {
  const cfg = configs().get('cors-2');
  if (!cfg) return t.fail('cors-2 missing');
  const a = preflightResponse(cfg, 'https://www.foo.com', 'GET', undefined);
  t.equal(a.status, 200);
  t.equal(a.headers['access-control-max-age'], '5');
  const policy: CorsConfig = { allowOrigins: ['*'], allowMethods: ['GET'], allowHeaders: [], exposeHeaders: [], allowCredentials: false, maxAgeSeconds: 600 };
  t.equal(preflightResponse(policy, 'https://x.test', 'GET', undefined).status, 204);
});

t.test('a bad CORS filter is refused with its field path; on a backendRef it is refused', async (t) => {
  const bad = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: d }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - filters: [{ type: CORS, cors: { allowOrigins: ["ftp://x.test", "https://a/b"], allowMethods: [FETCH], maxAge: 0, allowCredentails: true } }]
      backendRefs: [{ name: s, port: 80, filters: [{ type: CORS, cors: { allowOrigins: ["*"] } }] }]
`;
  const problems = parseResources(bad, 'f.yaml').problems.join('\n');
  t.match(problems, /spec\.rules\[0\]\.filters\[0\]\.cors\.allowOrigins\[0\]: "ftp:\/\/x\.test" is not "\*"/);
  t.match(problems, /spec\.rules\[0\]\.filters\[0\]\.cors\.allowOrigins\[1\]/);
  t.match(problems, /spec\.rules\[0\]\.filters\[0\]\.cors\.allowMethods\[0\]: "FETCH" is not an HTTP method/);
  t.match(problems, /spec\.rules\[0\]\.filters\[0\]\.cors\.maxAge/);
  t.match(problems, /allowCredentails/);
  t.match(problems, /spec\.rules\[0\]\.backendRefs\[0\]\.filters\[0\]: a CORS filter belongs on the rule, not on a backendRef/);
});
