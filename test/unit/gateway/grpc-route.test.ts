// GRPCRoute: the parser (every field of the spec, each problem located and the route rejected
// alone), the matcher (service/method exact and regex, headers, gRPC requests only) and the
// HTTPRoute/GRPCRoute hostname conflict rule on one listener.
import t from 'tap';
import { parseResources } from '../../../gateway/routes/resources.js';
import { grpcRouteMatch } from '../../../gateway/routes/grpc-route.js';
import { compileRouteTable, type RouteRequest } from '../../../gateway/routes/route-table.js';
import { matches } from '../../../gateway/routes/route-order.js';
import { hostsOverlap } from '../../../gateway/routes/route-conflicts.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`;

const grpcReq = (host: string, path: string, headers: Record<string, string> = {}): RouteRequest => ({
  host,
  path,
  method: 'POST',
  headers: { 'content-type': 'application/grpc', ...headers },
  query: new URLSearchParams(),
});

const ROUTE = `${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo, namespace: test, creationTimestamp: "2026-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge, sectionName: http, port: 80 }]
  hostnames: [grpc.test]
  rules:
    - name: exact
      matches: [{ method: { service: weft.test.Echo, method: Unary }, headers: [{ name: X-Tier, value: gold }] }]
      filters:
        - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-route, value: exact }] } }
        - { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-seen, value: "1" }] } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 80 } } }
      backendRefs: [{ name: gold, port: 80, weight: 3 }, { name: silver, port: 80, weight: 1 }]
    - name: service
      matches: [{ method: { service: weft.test.Echo } }]
      backendRefs: [{ name: echo, port: 80 }]
    - name: regex
      matches: [{ method: { type: RegularExpression, service: "weft\\\\.other\\\\..*", method: "Get.*" } }]
      backendRefs: [{ name: other, port: 80 }]
`;

t.test('a GRPCRoute is read with its matches, filters, weighted backends and parentRef section and port', async (t) => {
  const parsed = parseResources(ROUTE, 'routes.yaml');
  t.same(parsed.problems, []);
  const route = parsed.resources.grpcRoutes[0];
  t.same(route?.parentRefs, [{ kind: 'Gateway', namespace: 'test', name: 'edge', sectionName: 'http', port: 80 }]);
  t.same(route?.hostnames, ['grpc.test']);
  t.same(route?.rules[0]?.matches, [{ method: { type: 'Exact', service: 'weft.test.Echo', method: 'Unary' }, headers: [{ type: 'Exact', name: 'x-tier', value: 'gold' }] }]);
  t.same(
    route?.rules[0]?.filters.map((f) => f.type),
    ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'],
  );
  t.same(
    route?.rules[0]?.backendRefs.map((b) => [b.name, b.weight]),
    [
      ['gold', 3],
      ['silver', 1],
    ],
  );
});

t.test('the compiled table sends gRPC calls by service, method and header, and nothing else', async (t) => {
  const parsed = parseResources(ROUTE, 'routes.yaml');
  const { table, problems } = compileRouteTable(parsed.resources);
  t.same(problems, []);
  const rule = (r: RouteRequest): string | undefined => {
    const d = table.lookup('HTTP', r);
    return d.kind === 'matched' ? d.rule.route.label : undefined;
  };
  t.equal(rule(grpcReq('grpc.test', '/weft.test.Echo/Unary', { 'x-tier': 'gold' })), 'test/echo/exact', 'service, method and header');
  t.equal(rule(grpcReq('grpc.test', '/weft.test.Echo/Unary')), 'test/echo/service', 'without the header: the service rule');
  t.equal(rule(grpcReq('grpc.test', '/weft.test.Echo/Chat')), 'test/echo/service');
  t.equal(rule(grpcReq('grpc.test', '/weft.test.EchoMore/Chat')), undefined, 'a service name is not a prefix of another');
  t.equal(rule(grpcReq('grpc.test', '/weft.other.Store/GetItem')), 'test/echo/regex');
  t.equal(rule(grpcReq('grpc.test', '/weft.other.Store/PutItem')), undefined, 'a method not matched: no route (UNIMPLEMENTED)');
  t.equal(rule({ ...grpcReq('grpc.test', '/weft.test.Echo/Chat'), headers: { 'content-type': 'application/json' } }), undefined, 'a GRPCRoute never takes a request that is not gRPC');
  t.equal(rule(grpcReq('grpc.test', '/weft.test.Echo/Chat', { 'content-type': 'application/grpc+proto' })), 'test/echo/service', 'application/grpc+proto is gRPC');
  t.equal(rule(grpcReq('other.test', '/weft.test.Echo/Chat')), undefined, 'hostnames hold');
});

t.test('each method match form stands for the right path match', async (t) => {
  const m = (method: Parameters<typeof grpcRouteMatch>[0]['method']) => grpcRouteMatch(method === undefined ? { headers: [] } : { method, headers: [] });
  const at = (match: ReturnType<typeof grpcRouteMatch>, path: string): boolean => matches(match, grpcReq('h', path));
  t.ok(at(m(undefined), '/any.Service/Any'), 'no method match: every call');
  t.ok(at(m({ type: 'Exact', method: 'Unary' }), '/a.B/Unary'), 'method alone: any service');
  t.notOk(at(m({ type: 'Exact', method: 'Unary' }), '/a.B/UnaryX'));
  t.ok(at(m({ type: 'RegularExpression', service: 'a\\.B' }), '/a.B/Whatever'), 'regex service alone: any method');
  t.notOk(at(m({ type: 'RegularExpression', service: 'a\\.B' }), '/a.BC/Whatever'), 'regexes match whole names');
});

t.test('a bad GRPCRoute is rejected alone, each problem at its field', async (t) => {
  const bad = `${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: bad, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches:
        - { method: { type: Exact } }
        - { method: { service: "not a service", method: "9bad" } }
        - { method: { type: RegularExpression, method: "(" } }
        - { method: { type: Prefix, service: a.B } }
        - { headers: [{ name: x-a, value: "1" }, { name: X-A, value: "2" }] }
      filters: [{ type: URLRewrite, urlRewrite: { hostname: x.test } }]
      backendRefs: [{ name: echo, port: 80 }]
    - { timeouts: { request: 1s }, backendRefs: [{ name: echo, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: good, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
`;
  const parsed = parseResources(bad, 'routes.yaml');
  t.same(
    parsed.resources.grpcRoutes.map((r) => r.meta.name),
    ['good'],
    'the good route is kept',
  );
  const reasons = parsed.conditions.find((c) => c.name === 'bad')?.reasons ?? [];
  t.equal(parsed.conditions.find((c) => c.name === 'bad')?.kind, 'GRPCRoute');
  const expect = [
    /spec\.rules\[0\]\.matches\[0\]\.method: one or both of service and method must be set/,
    /spec\.rules\[0\]\.matches\[1\]\.method\.service: "not a service" is not a gRPC service name/,
    /spec\.rules\[0\]\.matches\[1\]\.method\.method: "9bad" is not a gRPC method name/,
    /spec\.rules\[0\]\.matches\[2\]\.method\.method: invalid regular expression/,
    /spec\.rules\[0\]\.matches\[3\]\.method\.type/,
    /spec\.rules\[0\]\.matches\[4\]\.headers\[1\]\.name: "X-A" is matched twice/,
    /spec\.rules\[0\]\.filters\[0\]\.type: "URLRewrite" is not a GRPCRoute filter/,
    /spec\.rules\[1\]/,
  ];
  for (const re of expect) t.ok(reasons.some((r) => re.test(r)), `reason ${re.source}`);
  t.equal(reasons.length, expect.length, reasons.join('\n'));
});

t.test('an HTTPRoute and a GRPCRoute with overlapping hostnames on one listener: the older one is kept there', async (t) => {
  const text = `${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: test, creationTimestamp: "2026-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: ["*.example.com"]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: late, namespace: test, creationTimestamp: "2026-02-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [api.example.com]
  rules: [{ backendRefs: [{ name: grpc, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: apart, namespace: test, creationTimestamp: "2026-02-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [grpc.other.test]
  rules: [{ backendRefs: [{ name: grpc, port: 80 }] }]
`;
  const parsed = parseResources(text, 'routes.yaml');
  const { table, conditions, problems } = compileRouteTable(parsed.resources);
  t.same(problems, [], 'a conflict refuses nothing');
  const late = conditions.find((c) => c.name === 'late');
  t.equal(late?.type, 'Degraded');
  t.match(late?.reasons[0], /HTTPRoute test\/web is older .*\(Conflicted\)/);
  t.notOk(conditions.some((c) => c.name === 'web' || c.name === 'apart'), 'the winner and a route without overlap are untouched');
  const label = (r: RouteRequest): string | undefined => {
    const d = table.lookup('HTTP', r);
    return d.kind === 'matched' ? d.rule.route.label : undefined;
  };
  t.equal(label(grpcReq('api.example.com', '/a.B/C')), 'test/web/0', 'a gRPC call there goes by the HTTPRoute');
  t.equal(label(grpcReq('grpc.other.test', '/a.B/C')), 'test/apart/0');
  t.ok(hostsOverlap(['*'], ['a.test']));
  t.ok(hostsOverlap(['*.example.com'], ['api.example.com']));
  t.notOk(hostsOverlap(['a.test'], ['b.test']));
});
