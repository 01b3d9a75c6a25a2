// Listeners kept apart in the route table: routes bound by listener port and Gateway, the port in
// the Host choosing among the ports a shared socket serves, dedicated sockets (one port, or one
// Gateway's port) left out of the shared ones, redirects with the matched listener's port, and
// the parsing of WEFT_GATEWAY_LISTENER_ADDRS.
import t from 'tap';
import { parseResources } from '../../../gateway/routes/resources.js';
import { compileRouteTable, type RouteRequest, type RouteTable } from '../../../gateway/routes/route-table.js';
import { authorityPort, parseDedicatedSocket, socketScopes, type SocketScope } from '../../../gateway/routes/listener-scope.js';
import { redirectLocation } from '../../../gateway/routes/filters.js';
import { parseGatewayConfig } from '../../../gateway/config.js';

// The shape of the upstream conformance case HTTPRouteListenerPortMatching: three ports, the
// 8090 listener only for foo.com, one route per listener by sectionName, plus a second Gateway.
const FILE = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ports, namespace: infra }
spec:
  gatewayClassName: weft
  listeners:
    - { name: listener-1, port: 80, protocol: HTTP }
    - { name: listener-2, port: 8080, protocol: HTTP }
    - { name: listener-4, port: 8090, protocol: HTTP, hostname: foo.com }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other, namespace: infra }
spec:
  gatewayClassName: weft
  listeners:
    - { name: http, port: 80, protocol: HTTP }
    - { name: alt, port: 8080, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v1, namespace: infra }
spec:
  parentRefs: [{ name: ports, sectionName: listener-1 }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v2, namespace: infra }
spec:
  parentRefs: [{ name: ports, port: 8080 }]
  rules:
    - backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /moved } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: elsewhere.test } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v3, namespace: infra }
spec:
  parentRefs: [{ name: ports, sectionName: listener-4 }]
  rules: [{ backendRefs: [{ name: v3, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: only-other, namespace: infra }
spec:
  parentRefs: [{ name: other, sectionName: http }]
  hostnames: [other.test]
  rules: [{ backendRefs: [{ name: o, port: 80 }] }]
`;

function table(): RouteTable {
  const parsed = parseResources(FILE, 'f.yaml');
  if (parsed.problems.length > 0) throw new Error(parsed.problems.join('\n'));
  const { table: tbl, problems } = compileRouteTable(parsed.resources);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return tbl;
}

function req(authority: string, path = '/'): RouteRequest {
  const port = authorityPort(authority);
  const host = authority.replace(/:\d+$/, '');
  return { host, ...(port === undefined ? {} : { port }), path, method: 'GET', headers: {}, query: new URLSearchParams() };
}

function hit(tbl: RouteTable, authority: string, scope?: SocketScope, path = '/'): string {
  const d = tbl.lookup(scope?.protocol ?? 'HTTP', req(authority, path), scope);
  return d.kind === 'matched' ? `${d.rule.route.name}@${d.listener.gateway?.name ?? '-'}:${d.listener.port}` : '404';
}

t.test('the port in the Host picks the listener on a shared socket (HTTPRouteListenerPortMatching)', async (t) => {
  const tbl = table();
  t.equal(hit(tbl, 'foo.com'), 'backend-v1@ports:80', 'no port: the socket\'s port 80');
  t.equal(hit(tbl, 'foo.com:80'), 'backend-v1@ports:80');
  t.equal(hit(tbl, 'foo.com:8080'), 'backend-v2@ports:8080', 'foo.com:8080 only matches the 8080 listener\'s routes');
  t.equal(hit(tbl, 'bar.com:8080'), 'backend-v2@ports:8080');
  t.equal(hit(tbl, 'foo.com:8090'), 'backend-v3@ports:8090');
  t.equal(hit(tbl, 'bar.com:8090'), '404', 'the 8090 listener serves foo.com only: 404, not a route of another port');
  t.equal(hit(tbl, 'foo.com:31999'), 'backend-v1@ports:80', 'a port no listener has (a port-forward, a NodePort) counts as the socket\'s own');
  t.equal(hit(tbl, 'other.test:8080'), 'backend-v2@ports:8080', 'Gateway other\'s port-80 route does not serve port 8080; the 8080 catch-all does');
  t.equal(hit(tbl, 'other.test'), 'only-other@other:80');
  t.same(tbl.ports('HTTP'), [80, 8080, 8090]);
});

t.test('dedicated sockets serve their port (or their Gateway\'s port) alone, and the shared socket leaves them out', async (t) => {
  const tbl = table();
  const d = (raw: string) => {
    const p = parseDedicatedSocket(raw, '0.0.0.0');
    if (typeof p === 'string') throw new Error(p);
    return p;
  };
  const scopes = socketScopes([d('http:8080=127.0.0.1:0'), d('http:80:infra/other=127.0.0.1:0')]);
  const [port8080, otherOn80] = scopes.dedicated;
  if (!port8080 || !otherOn80) throw new Error('two dedicated scopes expected');
  t.equal(hit(tbl, 'bar.com', port8080), 'backend-v2@ports:8080', 'a Host without port on the 8080 socket is the 8080 listener');
  t.equal(hit(tbl, 'bar.com:8090', port8080), 'backend-v2@ports:8080', 'a dedicated socket serves its own port whatever the Host says');
  t.equal(hit(tbl, 'bar.com:8080', scopes.http), 'backend-v1@ports:80', 'the shared socket no longer serves port 8080; the Host port falls back to 80');
  t.equal(hit(tbl, 'other.test', otherOn80), 'only-other@other:80', 'Gateway other\'s own socket serves its route');
  t.equal(hit(tbl, 'foo.com', otherOn80), '404', 'and never a route of Gateway ports, though both listen on port 80');
  t.equal(hit(tbl, 'other.test', scopes.http), 'backend-v1@ports:80', 'the shared socket leaves Gateway other\'s port-80 listener to its socket (its own catch-all answers)');
  t.equal(hit(tbl, 'foo.com', scopes.http), 'backend-v1@ports:80', 'and keeps Gateway ports\' port-80 listener');
});

t.test('a redirect without port takes the matched listener\'s port', async (t) => {
  const tbl = table();
  const d = tbl.lookup('HTTP', req('bar.com:8080', '/moved/x'));
  if (d.kind !== 'matched') return t.fail('no match');
  const f = d.rule.filters[0];
  if (f?.type !== 'RequestRedirect') return t.fail('no redirect filter');
  t.equal(d.listener.port, 8080);
  t.equal(redirectLocation(f, { scheme: 'http', host: 'bar.com', path: '/moved/x', search: '' }, d.listener.port, d.match.path), 'http://elsewhere.test:8080/moved/x');
});

t.test('the Host port is read from names, IPv4 and bracketed IPv6 authorities', async (t) => {
  t.equal(authorityPort('foo.com:8080'), 8080);
  t.equal(authorityPort('foo.com'), undefined);
  t.equal(authorityPort('10.0.0.1:81'), 81);
  t.equal(authorityPort('[::1]:8443'), 8443);
  t.equal(authorityPort('[::1]'), undefined);
  t.equal(authorityPort('::1'), undefined, 'a bare IPv6 address has no port');
  t.equal(authorityPort('foo.com:'), undefined);
  t.equal(authorityPort('foo.com:http'), undefined);
  t.equal(authorityPort(undefined), undefined);
});

t.test('WEFT_GATEWAY_LISTENER_ADDRS is parsed, every problem listed', async (t) => {
  const base = { WEFT_MODE: 'local', WEFT_GATEWAY_ROUTES_FILE: '/r.yaml', WEFT_CA_DIR: '/ca', WEFT_ENDPOINTS_FILE: '/e.json' };
  const c = parseGatewayConfig({ ...base, WEFT_GATEWAY_LISTENER_ADDRS: 'http:8080=127.0.0.1:9080, https:8443:shop/public=9443' });
  t.same(c.listenerSockets, [
    { protocol: 'HTTP', port: 8080, gateway: undefined, address: { host: '127.0.0.1', port: 9080 } },
    { protocol: 'HTTPS', port: 8443, gateway: 'shop/public', address: { host: '0.0.0.0', port: 9443 } },
  ]);
  let message = '';
  try {
    parseGatewayConfig({ ...base, WEFT_GATEWAY_LISTENER_ADDRS: 'tcp:80=1.2.3.4:5,http:99999=:1,http:8080=x:1,http:8080=y:2' });
  } catch (err) {
    message = err instanceof Error ? `${(err as Error & { code?: string }).code ?? ''} ${err.message}` : String(err);
  }
  t.match(message, /^WEFT_ERR_CONFIG /);
  t.match(message, /"tcp:80" is not "http\|https:<listener port>/);
  t.match(message, /listener port 99999 is out of range/);
  t.match(message, /http:8080 is given twice/);
});
