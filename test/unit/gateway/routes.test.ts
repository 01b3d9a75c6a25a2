// Pure routing core: hostnames, paths, the ReplacePrefixMatch table of the spec, redirects,
// validation messages and the compiled table's attachment and precedence rules.
import t from 'tap';
import { gatewayHostMatches, ingressHostMatches, intersectHostnames, normalizeHost, hostnameProblem } from '../../../gateway/routes/hostnames.js';
import { parseDuration, pathProblem, prefixMatches, replacePrefix } from '../../../gateway/routes/paths.js';
import { modifyHeaders, redirectLocation } from '../../../gateway/routes/filters.js';
import { parseResources } from '../../../gateway/routes/resources.js';
import { compileRouteTable, pickWeighted, type RouteRequest } from '../../../gateway/routes/route-table.js';

t.test('Gateway API wildcards match one or more labels; Ingress wildcards exactly one', async (t) => {
  const rows: [string, string, boolean, boolean][] = [
    ['*.example.com', 'foo.example.com', true, true],
    ['*.example.com', 'a.b.example.com', true, false],
    ['*.example.com', 'example.com', false, false],
    ['*.example.com', 'fooexample.com', false, false],
    ['foo.example.com', 'foo.example.com', true, true],
    ['foo.example.com', 'bar.example.com', false, false],
  ];
  for (const [pattern, host, gw, ing] of rows) {
    t.equal(gatewayHostMatches(pattern, host), gw, `gateway ${pattern} vs ${host}`);
    t.equal(ingressHostMatches(pattern, host), ing, `ingress ${pattern} vs ${host}`);
  }
});

t.test('listener and route hostnames intersect as the spec says', async (t) => {
  t.same(intersectHostnames(undefined, []), ['*']);
  t.same(intersectHostnames('foo.com', []), ['foo.com']);
  t.same(intersectHostnames(undefined, ['a.com']), ['a.com']);
  t.same(intersectHostnames('*.example.com', ['foo.example.com', 'other.com']), ['foo.example.com']);
  t.same(intersectHostnames('foo.example.com', ['*.example.com']), ['foo.example.com']);
  t.same(intersectHostnames('*.example.com', ['*.foo.example.com']), ['*.foo.example.com']);
  t.same(intersectHostnames('foo.com', ['bar.com']), []);
});

t.test('hosts normalize and validate', async (t) => {
  t.equal(normalizeHost('Foo.Example.COM:8443'), 'foo.example.com');
  t.equal(normalizeHost('[::1]:80'), '::1');
  t.equal(normalizeHost('example.com.'), 'example.com');
  t.ok(hostnameProblem('foo.*.com'));
  t.ok(hostnameProblem('10.0.0.1'));
  t.notOk(hostnameProblem('*.example.com'));
});

t.test('PathPrefix is element-wise and ignores a trailing slash', async (t) => {
  const rows: [string, string, boolean][] = [
    ['/abc', '/abc', true],
    ['/abc', '/abc/', true],
    ['/abc', '/abc/def', true],
    ['/abc', '/abcd', false],
    ['/abc/', '/abc', true],
    ['/abc/', '/abc/def', true],
    ['/', '/anything', true],
  ];
  for (const [prefix, path, want] of rows) t.equal(prefixMatches(prefix, path), want, `${prefix} vs ${path}`);
});

t.test('ReplacePrefixMatch follows the table in the HTTPPathModifier docs', async (t) => {
  const rows: [string, string, string, string][] = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
  ];
  for (const [path, prefix, repl, want] of rows) t.equal(replacePrefix(path, prefix, repl), want, `${path} ${prefix} -> ${JSON.stringify(repl)}`);
});

t.test('paths and durations are validated', async (t) => {
  t.ok(pathProblem('foo'));
  t.ok(pathProblem('/a//b'));
  t.ok(pathProblem('/a/../b'));
  t.ok(pathProblem('/a%2Fb'));
  t.notOk(pathProblem('/a/b'));
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('0s'), 0);
  t.type(parseDuration('1.5s'), 'string');
});

t.test('redirect ports follow the spec', async (t) => {
  const req = { scheme: 'http' as const, host: 'a.test', path: '/p', search: '?q=1' };
  const prefix = { type: 'PathPrefix' as const, value: '/' };
  t.equal(redirectLocation({ type: 'RequestRedirect', statusCode: 302, scheme: 'https' }, req, 80, prefix), 'https://a.test/p?q=1', 'a scheme change takes its well-known port');
  t.equal(redirectLocation({ type: 'RequestRedirect', statusCode: 302 }, req, 8080, prefix), 'http://a.test:8080/p?q=1', 'otherwise the listener port');
  t.equal(redirectLocation({ type: 'RequestRedirect', statusCode: 302, scheme: 'http', port: 80 }, { ...req, scheme: 'https' }, 443, prefix), 'http://a.test/p?q=1');
  t.equal(redirectLocation({ type: 'RequestRedirect', statusCode: 302, hostname: 'b.test', port: 9000 }, req, 80, prefix), 'http://b.test:9000/p?q=1');
});

t.test('header modifiers set, append with a comma and remove', async (t) => {
  const out = modifyHeaders({ a: '1', b: '2', c: '3' }, { set: [['a', 'x']], add: [['b', 'y'], ['d', 'z']], remove: ['c'] });
  t.same(out, { a: 'x', b: '2,y', d: 'z' });
});

t.test('weighted picks respect weights and skip zero', async (t) => {
  const bs = [{ weight: 1, n: 'a' }, { weight: 0, n: 'z' }, { weight: 3, n: 'b' }];
  t.equal(pickWeighted(bs, () => 0)?.n, 'a');
  t.equal(pickWeighted(bs, () => 0.26)?.n, 'b');
  t.equal(pickWeighted(bs, () => 0.999)?.n, 'b');
  t.equal(pickWeighted([{ weight: 0 }], () => 0.5), undefined);
});

const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: weft
  listeners:
    - { name: same, port: 80, protocol: HTTP, hostname: same.test }
    - { name: selected, port: 80, protocol: HTTP, hostname: sel.test, allowedRoutes: { namespaces: { from: Selector, selector: { matchLabels: { edge: "yes" } } } } }
    - { name: all, port: 8080, protocol: HTTP, hostname: "*.all.test", allowedRoutes: { namespaces: { from: All } } }
`;

function req(host: string, path: string, extra: Partial<RouteRequest> = {}): RouteRequest {
  return { host, path, method: 'GET', headers: {}, query: new URLSearchParams(), ...extra };
}

t.test('allowedRoutes, sectionName and port decide attachment', async (t) => {
  const text = `${GW}---
apiVersion: v1
kind: Namespace
metadata: { name: team-a, labels: { edge: "yes" } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r1, namespace: team-a }
spec:
  parentRefs: [{ name: edge, namespace: infra }]
  rules: [{ backendRefs: [{ name: s, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r2, namespace: team-b }
spec:
  parentRefs: [{ name: edge, namespace: infra, port: 8080 }]
  hostnames: [x.all.test, other.test]
  rules: [{ backendRefs: [{ name: s, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r3, namespace: infra }
spec:
  parentRefs: [{ name: edge, sectionName: same }]
  rules: [{ backendRefs: [{ name: s, namespace: team-a, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r4, namespace: infra }
spec:
  parentRefs: [{ name: missing }]
  rules: [{ backendRefs: [{ name: s, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: allow-infra, namespace: team-a }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra }]
  to: [{ group: "", kind: Service }]
`;
  const parsed = parseResources(text, 'f.yaml');
  t.same(parsed.problems, []);
  const { table, problems } = compileRouteTable(parsed.resources);
  t.same(problems, []);
  const hit = (host: string, port?: number) => {
    const d = table.lookup('HTTP', req(host, '/', port === undefined ? {} : { port }));
    return d.kind === 'matched' ? d.rule.route.label : 'none';
  };
  t.equal(hit('sel.test'), 'team-a/r1/0', 'Selector listener admits the labelled namespace');
  t.equal(hit('same.test'), 'infra/r3/0', 'Same listener admits its own namespace only');
  t.equal(hit('x.all.test', 8080), 'team-b/r2/0', 'port 8080 parentRef attaches to the All listener');
  t.equal(hit('x.all.test'), 'none', 'a Host without port belongs to the shared socket\'s port 80, not to the 8080 listener');
  t.equal(hit('other.test', 8080), 'none', 'a route hostname outside the listener hostname is not served');
  const d = table.lookup('HTTP', req('same.test', '/'));
  t.equal(d.kind === 'matched' && d.rule.backends[0]?.kind, 'service', 'ReferenceGrant allows the cross-namespace backend');
  t.ok(table.warnings.some((w) => w.includes('HTTPRoute infra/r4 parentRefs[0]: Gateway infra/missing')), 'a route whose Gateway is missing is reported');
});

t.test('an Ingress defaultBackend catches what no rule matches', async (t) => {
  const text = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: i, namespace: d }
spec:
  ingressClassName: weft
  defaultBackend: { service: { name: fallback, port: { number: 80 } } }
  rules: [{ host: a.test, http: { paths: [{ path: /x, pathType: Prefix, backend: { service: { name: x, port: { name: web } } } }] } }]
---
apiVersion: v1
kind: Service
metadata: { name: x, namespace: d }
spec: { ports: [{ name: web, port: 8081 }] }
`;
  const parsed = parseResources(text, 'f.yaml');
  t.same(parsed.problems, []);
  const { table } = compileRouteTable(parsed.resources);
  const d1 = table.lookup('HTTPS', req('a.test', '/x/1'));
  t.same(d1.kind === 'matched' && d1.rule.backends[0]?.kind === 'service' ? d1.rule.backends[0].ref : undefined, { namespace: 'd', name: 'x', port: 8081 }, 'a named port resolves through the Service');
  const d2 = table.lookup('HTTP', req('zzz.test', '/y'));
  t.equal(d2.kind === 'matched' && d2.rule.backends[0]?.label, 'd/fallback:80');
});

t.test('a bad file lists every problem with document and field path', async (t) => {
  const text = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: d }
spec:
  parentRefs: [{ name: edge }]
  hostnames: ["Bad_Host"]
  rules:
    - matches: [{ path: { type: Prefix, value: /x } }]
      backendRefs: [{ name: s }]
    - matches: [{ path: { type: RegularExpression, value: "([" } }, { headers: [{ name: a, value: "1" }, { name: A, value: "2" }] }]
      filters:
        - { type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /y } } }
        - { type: RequestRedirect, requestRedirect: { statusCode: 200 } }
      timeouts: { request: 1s, backendRequest: 2s }
---
apiVersion: gateway.networking.k8s.io/v1alpha9
kind: Gateway
metadata: { name: g }
---
kind: Widget
apiVersion: example.com/v1
metadata: { name: w }
`;
  const { problems } = parseResources(text, 'routes.yaml');
  const want = [
    /document 1 \(HTTPRoute d\/bad\): spec\.hostnames\[0\]: /,
    /document 1 .*spec\.rules\[0\]\.matches\[0\]\.path\.type: "Prefix" is not one of Exact, PathPrefix, RegularExpression/,
    /document 1 .*spec\.rules\[0\]\.backendRefs\[0\]\.port: is required/,
    /document 1 .*spec\.rules\[1\]\.matches\[0\]\.path\.value: invalid regular expression/,
    /document 1 .*spec\.rules\[1\]\.matches\[1\]\.headers\[1\]\.name: "A" is matched twice/,
    /document 1 .*spec\.rules\[1\]\.filters\[1\]\.requestRedirect\.statusCode: 200 is not one of/,
    /document 1 .*spec\.rules\[1\]\.filters: RequestRedirect and URLRewrite cannot be used in the same rule/,
    /document 1 .*spec\.rules\[1\]\.filters: ReplacePrefixMatch needs exactly one match, of type PathPrefix/,
    /document 1 .*spec\.rules\[1\]\.timeouts\.backendRequest: must not be longer/,
    /document 2 \(Gateway default\/g\): apiVersion: .* is not supported/,
    /document 3 .*kind: example\.com\/v1 Widget is not a kind the gateway reads/,
  ];
  for (const re of want) t.ok(problems.some((p) => re.test(p)), `reports ${re}`);
});

t.test('precedence: hostname, path kind and length, method, headers, query, age, name', async (t) => {
  const route = (name: string, created: string, host: string, match: string, backend: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: d, creationTimestamp: "${created}" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: ["${host}"]
  rules: [{ matches: [${match}], backendRefs: [{ name: ${backend}, port: 80 }] }]
`;
  const text =
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: d }
spec: { gatewayClassName: weft, listeners: [{ name: h, port: 80, protocol: HTTP }] }
` +
    route('wild', '2020-01-01T00:00:00Z', '*.p.test', '{ path: { type: Exact, value: /x } }', 'wild') +
    route('exact-host', '2024-01-01T00:00:00Z', 'a.p.test', '{ path: { type: PathPrefix, value: / } }', 'exacthost') +
    route('regex', '2020-01-01T00:00:00Z', 'b.p.test', '{ path: { type: RegularExpression, value: "/r.*" } }', 'regex') +
    route('prefix', '2020-01-01T00:00:00Z', 'b.p.test', '{ path: { type: PathPrefix, value: /r } }', 'prefix') +
    route('query', '2020-01-01T00:00:00Z', 'c.p.test', '{ queryParams: [{ name: q, value: "1" }] }', 'query') +
    route('header', '2020-01-01T00:00:00Z', 'c.p.test', '{ headers: [{ name: h, value: "1" }] }', 'header') +
    route('b-young', '2021-01-01T00:00:00Z', 'd.p.test', '{ path: { type: PathPrefix, value: / } }', 'young') +
    route('z-old', '2020-01-01T00:00:00Z', 'd.p.test', '{ path: { type: PathPrefix, value: / } }', 'old');
  const parsed = parseResources(text, 'f.yaml');
  t.same(parsed.problems, []);
  const { table } = compileRouteTable(parsed.resources);
  const who = (host: string, path: string, extra: Partial<RouteRequest> = {}): string => {
    const d = table.lookup('HTTP', req(host, path, extra));
    return d.kind === 'matched' && d.rule.backends[0] ? d.rule.backends[0].label.split('/')[1]?.split(':')[0] ?? '' : 'none';
  };
  t.equal(who('a.p.test', '/x'), 'exacthost', 'an exact hostname beats a wildcard even with a weaker path');
  t.equal(who('b.p.test', '/rx'), 'regex', 'RegularExpression ranks above PathPrefix (our choice)');
  t.equal(who('c.p.test', '/', { headers: { h: '1' }, query: new URLSearchParams('q=1') }), 'header', 'headers rank above query params');
  t.equal(who('d.p.test', '/'), 'old', 'the older route wins a tie');
});
