// Routing semantics of the real `weft gateway` process, table-driven in the style of the
// Gateway API conformance suite: request in; backend, path, headers and status out. Backends are
// echo apps behind real `weft proxy` sidecars, reached over mTLS.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request, type GatewayProc } from '../../support/gateway-mesh.js';

const ROUTES = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
    - { name: http, port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: paths, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [paths.test]
  rules:
    - matches: [{ path: { type: Exact, value: /exact } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /prefix } }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /prefix/deeper } }]
      backendRefs: [{ name: v3, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /trail/ } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: RegularExpression, value: "/regex/[0-9]+" } }]
      backendRefs: [{ name: v3, port: 80 }]
    - matches: [{ path: { type: Exact, value: /prefix/exact } }]
      backendRefs: [{ name: v1, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: matches, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [match.test]
  rules:
    - matches: [{ path: { value: / }, method: POST }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ headers: [{ name: version, value: two }] }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ headers: [{ name: version, value: two }, { name: color, value: orange }] }]
      backendRefs: [{ name: v3, port: 80 }]
    - matches: [{ queryParams: [{ name: animal, value: whale }] }]
      backendRefs: [{ name: v3, port: 80 }]
    - matches: [{ headers: [{ name: x-re, type: RegularExpression, value: "ab+c" }] }]
      backendRefs: [{ name: v3, port: 80 }]
    - matches: [{ queryParams: [{ name: id, type: RegularExpression, value: "[0-9]+" }] }]
      backendRefs: [{ name: v2, port: 80 }]
    - backendRefs: [{ name: v1, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: wildcard, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: ["*.wild.test"]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: exact-host, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [foo.wild.test]
  rules: [{ backendRefs: [{ name: v2, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: zz-old, namespace: test, creationTimestamp: "2020-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [tie.test]
  rules: [{ matches: [{ path: { type: Exact, value: /same } }], backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: aa-new, namespace: test, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [tie.test]
  rules:
    - { matches: [{ path: { type: Exact, value: /same } }], backendRefs: [{ name: v2, port: 80 }] }
    - { matches: [{ path: { type: Exact, value: /alpha } }], backendRefs: [{ name: v2, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bb-same-age, namespace: test, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [tie.test]
  rules: [{ matches: [{ path: { type: Exact, value: /alpha } }], backendRefs: [{ name: v3, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: filters, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [filters.test]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /req-headers } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: X-Set, value: set-value }]
            add: [{ name: X-Add, value: added }]
            remove: [X-Remove]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /resp-headers } }]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: X-Resp, value: "yes" }], add: [{ name: X-Echo-Backend, value: extra }], remove: [X-Remove-Me] }
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /redirect-https } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 301 } }]
    - matches: [{ path: { type: PathPrefix, value: /redirect-host } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: other.test, port: 8443 } }]
    - matches: [{ path: { type: PathPrefix, value: /redirect-prefix } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }]
    - matches: [{ path: { type: PathPrefix, value: /redirect-full } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /full }, statusCode: 308 } }]
    - matches: [{ path: { type: PathPrefix, value: /rewrite-prefix } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /rewrite-full } }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: rewritten.test, path: { type: ReplaceFullPath, replaceFullPath: /replaced } } }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /mirror } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: v3, port: 80 } } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /weighted } }]
      backendRefs: [{ name: v1, port: 80, weight: 1 }, { name: v2, port: 80, weight: 3 }, { name: v3, port: 80, weight: 0 }]
    - matches: [{ path: { type: PathPrefix, value: /timeout } }]
      timeouts: { request: 1500ms }
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /invalid-kind } }]
      backendRefs: [{ group: example.com, kind: Bucket, name: b }]
    - matches: [{ path: { type: PathPrefix, value: /unknown-service } }]
      backendRefs: [{ name: nowhere, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /other-namespace } }]
      backendRefs: [{ name: v1, namespace: elsewhere, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /not-ready } }]
      backendRefs: [{ name: down, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /no-backends } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ing, namespace: test }
spec:
  ingressClassName: weft
  rules:
    - host: ing.test
      http:
        paths:
          - { path: /ing-exact, pathType: Exact, backend: { service: { name: v1, port: { number: 80 } } } }
          - { path: /ing/prefix, pathType: Prefix, backend: { service: { name: v2, port: { number: 80 } } } }
          - { path: /impl, pathType: ImplementationSpecific, backend: { service: { name: v3, port: { number: 80 } } } }
    - host: "*.ingwild.test"
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: v3, port: { number: 80 } } } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: not-ours, namespace: test }
spec:
  ingressClassName: nginx
  rules: [{ host: nginx.test, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: v1, port: { number: 80 } } } }] } }]
`;

interface Case {
  readonly name: string;
  readonly host: string;
  readonly path: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** Expected backend service, or undefined when the gateway itself answers. */
  readonly backend?: string;
  readonly status?: number;
  /** Path and query the backend must receive. */
  readonly upstreamUrl?: string;
  readonly upstreamHost?: string;
  readonly upstreamHeaders?: Record<string, string | undefined>;
  readonly responseHeaders?: Record<string, string | undefined>;
  readonly weftError?: string;
}

const CASES: Case[] = [
  // Path matching
  { name: 'Exact matches only the exact path', host: 'paths.test', path: '/exact', backend: 'v1' },
  { name: 'Exact does not match a trailing slash', host: 'paths.test', path: '/exact/', status: 404, weftError: 'WEFT_ERR_NO_ROUTE' },
  { name: 'PathPrefix matches the prefix itself', host: 'paths.test', path: '/prefix', backend: 'v2' },
  { name: 'PathPrefix matches with a trailing slash', host: 'paths.test', path: '/prefix/', backend: 'v2' },
  { name: 'PathPrefix matches below the prefix', host: 'paths.test', path: '/prefix/one', backend: 'v2' },
  { name: 'PathPrefix is segment-wise (no /prefixx)', host: 'paths.test', path: '/prefixx', status: 404 },
  { name: 'the longer prefix wins', host: 'paths.test', path: '/prefix/deeper/x', backend: 'v3' },
  { name: 'Exact beats any prefix', host: 'paths.test', path: '/prefix/exact', backend: 'v1' },
  { name: 'a prefix written with a trailing slash matches without it', host: 'paths.test', path: '/trail', backend: 'v1' },
  { name: 'a prefix written with a trailing slash matches below it', host: 'paths.test', path: '/trail/a', backend: 'v1' },
  { name: 'RegularExpression matches the whole path', host: 'paths.test', path: '/regex/123', backend: 'v3' },
  { name: 'RegularExpression does not match a partial path', host: 'paths.test', path: '/regex/12a', status: 404 },
  { name: 'the query string is not part of the path', host: 'paths.test', path: '/exact?x=1', backend: 'v1', upstreamUrl: '/exact?x=1' },
  // Header, query and method matching; precedence among them
  { name: 'no condition matches the catch-all rule', host: 'match.test', path: '/', backend: 'v1' },
  { name: 'an Exact header match', host: 'match.test', path: '/', headers: { version: 'two' }, backend: 'v2' },
  { name: 'header names are case-insensitive', host: 'match.test', path: '/', headers: { VERSION: 'two' }, backend: 'v2' },
  { name: 'header values are case-sensitive', host: 'match.test', path: '/', headers: { version: 'Two' }, backend: 'v1' },
  { name: 'more header matches win', host: 'match.test', path: '/', headers: { version: 'two', color: 'orange' }, backend: 'v3' },
  { name: 'a method match beats more header matches', host: 'match.test', path: '/', method: 'POST', headers: { version: 'two', color: 'orange' }, backend: 'v2' },
  { name: 'a query parameter match', host: 'match.test', path: '/?animal=whale', backend: 'v3' },
  { name: 'a query parameter with another value', host: 'match.test', path: '/?animal=dolphin', backend: 'v1' },
  { name: 'a RegularExpression query parameter match', host: 'match.test', path: '/?id=123', backend: 'v2' },
  { name: 'a RegularExpression query parameter must match the whole value', host: 'match.test', path: '/?id=12a', backend: 'v1' },
  { name: 'query parameter names are case-sensitive', host: 'match.test', path: '/?ID=123', backend: 'v1' },
  { name: 'a repeated query parameter matches on its first value', host: 'match.test', path: '/?animal=whale&animal=dolphin', backend: 'v3' },
  { name: 'a RegularExpression header match', host: 'match.test', path: '/', headers: { 'x-re': 'abbbc' }, backend: 'v3' },
  { name: 'a RegularExpression header must match the whole value', host: 'match.test', path: '/', headers: { 'x-re': 'xabcx' }, backend: 'v1' },
  // Hostnames
  { name: 'an exact hostname beats a wildcard', host: 'foo.wild.test', path: '/', backend: 'v2' },
  { name: 'a wildcard matches one label', host: 'bar.wild.test', path: '/', backend: 'v1' },
  { name: 'a Gateway API wildcard matches several labels', host: 'a.b.wild.test', path: '/', backend: 'v1' },
  { name: 'a wildcard does not match the bare domain', host: 'wild.test', path: '/', status: 404 },
  { name: 'the Host port is ignored and case folds', host: 'FOO.wild.test:8080', path: '/', backend: 'v2' },
  { name: 'a host no route serves gets 404', host: 'unknown.test', path: '/', status: 404, weftError: 'WEFT_ERR_NO_ROUTE' },
  // Precedence across routes
  { name: 'the oldest route wins a tie', host: 'tie.test', path: '/same', backend: 'v1' },
  { name: 'same age: alphabetical namespace/name wins', host: 'tie.test', path: '/alpha', backend: 'v2' },
  // Filters
  {
    name: 'RequestHeaderModifier sets, adds and removes',
    host: 'filters.test',
    path: '/req-headers',
    headers: { 'x-set': 'old', 'x-add': 'orig', 'x-remove': 'gone' },
    backend: 'v1',
    upstreamHeaders: { 'x-set': 'set-value', 'x-add': 'orig,added', 'x-remove': undefined },
  },
  { name: 'ResponseHeaderModifier sets, adds and removes', host: 'filters.test', path: '/resp-headers', backend: 'v1', responseHeaders: { 'x-resp': 'yes', 'x-echo-backend': 'v1,extra', 'x-remove-me': undefined } },
  { name: 'RequestRedirect to https drops the well-known port', host: 'filters.test', path: '/redirect-https?a=1', status: 301, responseHeaders: { location: 'https://filters.test/redirect-https?a=1' } },
  { name: 'RequestRedirect with hostname and port', host: 'filters.test', path: '/redirect-host/x', status: 302, responseHeaders: { location: 'http://other.test:8443/redirect-host/x' } },
  { name: 'RequestRedirect ReplacePrefixMatch', host: 'filters.test', path: '/redirect-prefix/a/b', status: 302, responseHeaders: { location: 'http://filters.test/new/a/b' } },
  { name: 'RequestRedirect ReplaceFullPath with 308', host: 'filters.test', path: '/redirect-full/a', status: 308, responseHeaders: { location: 'http://filters.test/full' } },
  { name: 'URLRewrite ReplacePrefixMatch "/" strips the prefix', host: 'filters.test', path: '/rewrite-prefix/x?q=1', backend: 'v2', upstreamUrl: '/x?q=1' },
  { name: 'URLRewrite of the bare prefix gives "/"', host: 'filters.test', path: '/rewrite-prefix', backend: 'v2', upstreamUrl: '/' },
  { name: 'URLRewrite hostname and ReplaceFullPath', host: 'filters.test', path: '/rewrite-full/a', backend: 'v2', upstreamUrl: '/replaced', upstreamHost: 'rewritten.test' },
  // Forwarding headers
  {
    name: 'X-Forwarded-* and Forwarded are set',
    host: 'filters.test',
    path: '/req-headers',
    backend: 'v1',
    upstreamHeaders: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'filters.test' },
  },
  // Backend failures
  { name: 'a backend of an unknown kind gets 500', host: 'filters.test', path: '/invalid-kind', status: 500, weftError: 'WEFT_ERR_BACKEND_INVALID' },
  { name: 'an unknown Service gets 500', host: 'filters.test', path: '/unknown-service', status: 500, weftError: 'WEFT_ERR_BACKEND_INVALID' },
  { name: 'another namespace without ReferenceGrant gets 500', host: 'filters.test', path: '/other-namespace', status: 500, weftError: 'WEFT_ERR_BACKEND_INVALID' },
  { name: 'a Service with no ready endpoint gets 503', host: 'filters.test', path: '/not-ready', status: 503, weftError: 'WEFT_ERR_NO_ENDPOINTS' },
  { name: 'a rule without backends gets 500', host: 'filters.test', path: '/no-backends', status: 500, weftError: 'WEFT_ERR_BACKEND_INVALID' },
  { name: 'timeouts.request gives 504', host: 'filters.test', path: '/timeout?sleepMs=4000', status: 504, weftError: 'WEFT_ERR_TIMEOUT' },
  { name: 'a request within the timeout passes', host: 'filters.test', path: '/timeout?sleepMs=10', backend: 'v1' },
  // Ingress
  { name: 'Ingress Exact', host: 'ing.test', path: '/ing-exact', backend: 'v1' },
  { name: 'Ingress Exact does not match below', host: 'ing.test', path: '/ing-exact/x', status: 404 },
  { name: 'Ingress Prefix is element-wise', host: 'ing.test', path: '/ing/prefix/x', backend: 'v2' },
  { name: 'Ingress Prefix does not match a longer element', host: 'ing.test', path: '/ing/prefixes', status: 404 },
  { name: 'Ingress ImplementationSpecific acts as Prefix', host: 'ing.test', path: '/impl/x', backend: 'v3' },
  { name: 'an Ingress wildcard matches one label', host: 'a.ingwild.test', path: '/', backend: 'v3' },
  { name: 'an Ingress wildcard does not match two labels', host: 'a.b.ingwild.test', path: '/', status: 404 },
  { name: 'an Ingress of another class is ignored', host: 'nginx.test', path: '/', status: 404 },
];

t.test('routing semantics through the real gateway', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  await mesh.addService('v2');
  await mesh.addService('v3');
  await mesh.addService('down', 1, { ready: false });
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const gw: GatewayProc = await mesh.startGateway(file);

  for (const c of CASES) {
    await t.test(c.name, async (t) => {
      const res = await request(`${gw.http}${c.path}`, { method: c.method ?? 'GET', headers: { host: c.host, ...(c.headers ?? {}) } });
      const echo = echoed(res.body);
      t.equal(res.status, c.status ?? 200, `status (body: ${res.body.slice(0, 200)})`);
      if (c.backend) t.equal(echo?.backend, c.backend, 'backend');
      else t.notOk(echo, 'answered by the gateway, not a backend');
      if (c.weftError) t.equal(res.headers['weft-error'], c.weftError, 'weft-error');
      if (c.upstreamUrl) t.equal(echo?.url, c.upstreamUrl, 'upstream path');
      if (c.upstreamHost) t.equal(echo?.host, c.upstreamHost, 'upstream host');
      for (const [k, v] of Object.entries(c.upstreamHeaders ?? {})) t.equal(echo?.headers[k], v, `upstream header ${k}`);
      for (const [k, v] of Object.entries(c.responseHeaders ?? {})) t.equal(res.headers[k], v, `response header ${k}`);
    });
  }

  await t.test('Forwarded and X-Forwarded-For name the client', async (t) => {
    const res = await request(`${gw.http}/req-headers`, { headers: { host: 'filters.test', 'x-forwarded-for': '6.6.6.6' } });
    const echo = echoed(res.body);
    // The test client is not a trusted proxy: its X-Forwarded-For is replaced, not extended.
    t.equal(echo?.headers['x-forwarded-for'], '127.0.0.1');
    t.equal(echo?.headers.forwarded, 'for=127.0.0.1;proto=http;host="filters.test"');
  });

  await t.test('RequestMirror sends a copy to the mirror backend', async (t) => {
    const before = mesh.received.filter((r) => r.backend === 'v3' && r.url === '/mirror/copy').length;
    const res = await request(`${gw.http}/mirror/copy`, { method: 'POST', headers: { host: 'filters.test' }, body: 'hello mirror' });
    t.equal(echoed(res.body)?.backend, 'v1', 'the real answer comes from the backend');
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && mesh.received.filter((r) => r.backend === 'v3' && r.url === '/mirror/copy').length === before) await new Promise((r) => setTimeout(r, 20));
    const copy = mesh.received.find((r) => r.backend === 'v3' && r.url === '/mirror/copy');
    t.ok(copy, 'the mirror received the request');
    t.equal(copy?.bodyBytes, 'hello mirror'.length, 'with its body');
  });

  await t.test('weighted backendRefs split traffic by weight, weight 0 gets nothing', async (t) => {
    const counts: Record<string, number> = {};
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 16 });
    const results = await Promise.all(Array.from({ length: 400 }, () => request(`${gw.http}/weighted`, { headers: { host: 'filters.test' }, agent })));
    agent.destroy();
    for (const r of results) {
      const b = echoed(r.body)?.backend ?? `status ${r.status}`;
      counts[b] = (counts[b] ?? 0) + 1;
    }
    t.notOk(counts.v3, 'weight 0 gets no request');
    t.ok((counts.v2 ?? 0) > 255 && (counts.v2 ?? 0) < 345, `v2 got ${counts.v2} of 400 (expected about 300)`);
    t.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), 400, 'every request reached v1 or v2');
  });

  await t.test('one access-log line per request, naming the route', async (t) => {
    const log = await gw.log();
    const lines = log.split('\n').filter((l) => l.includes('"msg":"access"'));
    t.ok(lines.length >= CASES.length, `${lines.length} access lines`);
    t.ok(lines.some((l) => l.includes('"route":"test/paths/0"') && l.includes('"status":200')), 'route label and status logged');
  });
});
