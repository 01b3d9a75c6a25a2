// Parsing mesh routes (every problem at once) and deciding a request's rule and backend.
import t from 'tap';
import { parseMeshRoutes, parseDurationMs } from '../../../../mesh/routes/mesh-routes.js';
import { CompiledRoutes } from '../../../../mesh/routes/route-decision.js';
import { rewrittenPath } from '../../../../proxy/outbound/mesh-route-step.js';
import { WeftError } from '../../../../lib/errors.js';

const ROUTE = `
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: orders, port: 80 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      backendRefs: [{ name: orders-api, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /api/v2 } }]
      backendRefs: [{ name: orders-v2, port: 80 }]
    - matches: [{ path: { type: Exact, value: /api/v2/exact } }]
      backendRefs: [{ name: orders-exact, port: 80 }]
    - matches: [{ method: POST, queryParams: [{ name: debug, value: "1" }] }]
      backendRefs: [{ name: orders-debug, port: 80 }]
    - matches: [{ headers: [{ name: x-user, type: RegularExpression, value: "^vip-" }] }]
      backendRefs: [{ name: orders-vip, port: 80, weight: 0 }]
`;
const head = (path: string, method = 'GET', headers: Record<string, string> = {}): { path: string; method: string; headers: Record<string, string> } => ({ path, method, headers });
const ref = { namespace: 'shop', name: 'orders', port: 80 };

t.test('precedence: exact path, then the longest prefix, then the other conditions', async (t) => {
  const routes = new CompiledRoutes(parseMeshRoutes(ROUTE, 'routes.yaml', 'default'));
  const to = (h: ReturnType<typeof head>): string => {
    const c = routes.decide(ref, h, () => 0);
    return c === undefined ? 'none' : c instanceof WeftError ? c.code : c.backend.name;
  };
  t.equal(to(head('/api/v2/exact')), 'orders-exact');
  t.equal(to(head('/api/v2/x')), 'orders-v2');
  t.equal(to(head('/api/v1')), 'orders-api');
  t.equal(to(head('/apix')), 'none', 'a prefix matches whole segments');
  t.equal(to(head('/x?debug=1', 'POST')), 'orders-debug');
  t.equal(to(head('/x?debug=1', 'GET')), 'none');
  t.equal(to(head('/x', 'GET', { 'x-user': 'vip-7' })), 'WEFT_ERR_ROUTE_NO_BACKEND', 'a rule whose backends weigh nothing answers 500');
  t.equal(routes.decide({ namespace: 'shop', name: 'other', port: 80 }, head('/api'), () => 0), undefined, 'another Service has no route');
});

t.test('every problem of a routes file is listed at once', async (t) => {
  const bad = `
kind: HTTPRoute
metadata: { name: bad }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - backendRefs: [{ name: a }]
      timeouts: { request: soon }
      retry: { codes: [200], attempts: 99 }
      filters: [{ type: RequestMirror }]
---
kind: GRPCRoute
metadata: { name: g }
`;
  t.throws(() => parseMeshRoutes(bad, 'routes.yaml', 'default'), { code: 'WEFT_ERR_ROUTES_FILE' });
  try {
    parseMeshRoutes(bad, 'routes.yaml', 'default');
  } catch (err) {
    const m = (err as Error).message;
    for (const part of ['port is required', 'timeouts.request', 'retry.codes', 'retry.attempts', 'RequestMirror', 'GRPCRoute']) t.match(m, part);
  }
  t.throws(() => parseMeshRoutes('kind: HTTPRoute\nmetadata: { name: x }\nspec: { parentRefs: [{ name: edge }] }\n', 'f', 'd'), /no parentRef of kind Service/);
});

t.test('durations and prefix rewrites', async (t) => {
  t.equal(parseDurationMs('100ms'), 100);
  t.equal(parseDurationMs('1m30s'), 90_000);
  t.match(parseDurationMs('1 s'), /not a duration/);
  const routes = parseMeshRoutes(`
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }]
      backendRefs: [{ name: s2, port: 80 }]
`, 'f', 'default');
  const rule = routes.get('default/s')?.[0];
  if (!rule) throw new Error('no rule');
  t.equal(rewrittenPath(rule, '/old/a?b=1'), '/new/a?b=1');
  t.equal(rewrittenPath(rule, '/old'), '/new');
});

t.test('a GRPCRoute matches on the gRPC service and method (the HTTP/2 path) and headers', async (t) => {
  const routes = new CompiledRoutes(
    parseMeshRoutes(
      `
kind: GRPCRoute
metadata: { name: g, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: echo, port: 9090 }]
  rules:
    - matches: [{ method: { service: weft.test.Echo, method: Unary }, headers: [{ name: x-canary, value: "1" }] }]
      backendRefs: [{ name: echo-v2, port: 9090 }]
    - matches: [{ method: { service: weft.test.Echo } }]
      backendRefs: [{ name: echo-v1, port: 9090 }]
`,
      'f',
      'default',
    ),
  );
  const echo = { namespace: 'shop', name: 'echo', port: 9090 };
  const to = (path: string, headers: Record<string, string> = {}): string => {
    const c = routes.decide(echo, { path, method: 'POST', headers }, () => 0);
    return c === undefined ? 'none' : c instanceof WeftError ? c.code : c.backend.name;
  };
  t.equal(to('/weft.test.Echo/Unary', { 'x-canary': '1' }), 'echo-v2');
  t.equal(to('/weft.test.Echo/Unary'), 'echo-v1');
  t.equal(to('/weft.test.Echo/Chat'), 'echo-v1');
  t.equal(to('/other.Service/Unary'), 'none');
});

t.test('a JSON routes document reads as the same table as its YAML form, and bad JSON is reported as YAML is', async (t) => {
  const { parse } = await import('yaml');
  const asJson = JSON.stringify(parse(ROUTE));
  t.same([...parseMeshRoutes(asJson, 'routes.json', 'default')], [...parseMeshRoutes(ROUTE, 'routes.yaml', 'default')]);
  const list = JSON.stringify({ kind: 'List', items: [parse(ROUTE)] });
  t.same([...parseMeshRoutes(list, 'routes.json', 'default')], [...parseMeshRoutes(ROUTE, 'routes.yaml', 'default')], 'a List of routes');
  t.throws(() => parseMeshRoutes('{"kind": "HTTPRoute",', 'routes.json', 'default'), { code: 'WEFT_ERR_ROUTES_FILE', message: /^routes\.json: document 0: / }, 'a JSON syntax error falls back to the YAML parser and its message');
});
