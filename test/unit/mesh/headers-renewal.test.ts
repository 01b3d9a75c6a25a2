import t from 'tap';
import { endToEndHeaders, forwardRawHeaders, forwardH2Headers, HOP_BY_HOP_HEADERS, mayResendAfterReset, RETRY_SAFE_METHODS } from '../../../mesh/headers.js';
import { handshakeFailureReason } from '../../../mesh/mesh-tls.js';
import { identityFromSubjectAltName, parseIdentity, formatIdentity } from '../../../lib/identity.js';

t.test('drops hop-by-hop headers and those Connection names, keeps duplicates and case', async (t) => {
  const raw = ['Host', 'a', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 's', 'Set-Cookie', '1', 'set-cookie', '2', 'weft-client-id', 'forged', 'TE', 'trailers'];
  t.same(forwardRawHeaders(raw, new Set(['weft-client-id']), [['weft-dst-port', '80']]), ['Host', 'a', 'Set-Cookie', '1', 'set-cookie', '2', 'weft-dst-port', '80']);
  t.same(forwardRawHeaders(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Host', 'h'], new Set(), [], true), ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Host', 'h'], 'upgrade keeps Connection/Upgrade');
  t.same(forwardH2Headers({ ':path': '/', connection: 'x', 'weft-dst-port': '1', a: 'b' }, new Set(['weft-dst-port']), { c: 'd' }), { ':path': '/', a: 'b', c: 'd' });
});

// Renewal time and its retry backoff: test/unit/mesh/identity/renewal.test.ts.

t.test('drops proxy credentials and every hop-by-hop header, in both header shapes', async (t) => {
  const raw = ['Host', 'h', 'Proxy-Authorization', 'Basic eA==', 'Proxy-Authenticate', 'Basic', 'Proxy-Connection', 'keep-alive', 'Transfer-Encoding', 'chunked', 'Trailer', 'x', 'Upgrade', 'h2c', 'HTTP2-Settings', 's', 'Authorization', 'Bearer t'];
  t.same(forwardRawHeaders(raw, new Set(), []), ['Host', 'h', 'Authorization', 'Bearer t'], 'the origin credentials pass, the proxy ones do not');
  for (const name of HOP_BY_HOP_HEADERS) {
    t.same(forwardH2Headers({ [name]: 'v', a: 'b' }, new Set(), {}), { a: 'b' }, `h2 drops ${name}`);
    t.same(endToEndHeaders({ [name]: 'v', a: 'b' }), { a: 'b' }, `the gateway drops ${name}`);
  }
  t.ok(HOP_BY_HOP_HEADERS.has('proxy-authorization') && HOP_BY_HOP_HEADERS.has('proxy-authenticate'));
});

t.test('removes the headers a Connection header lists, whatever their case and spacing', async (t) => {
  const raw = ['Connection', ' X-Hop ,x-other', 'X-Hop', '1', 'X-Other', '2', 'X-Kept', '3'];
  t.same(forwardRawHeaders(raw, new Set(), []), ['X-Kept', '3']);
  t.same(endToEndHeaders({ connection: 'X-Hop, x-other', 'x-hop': '1', 'x-other': '2', 'x-kept': '3', ':path': '/' }), { 'x-kept': '3' }, 'and pseudo-headers');
  t.same(endToEndHeaders({ 'x-hop': '1', 'x-kept': '3' }), { 'x-hop': '1', 'x-kept': '3' }, 'nothing listed: nothing extra dropped');
});

t.test('te passes between HTTP/2 peers only as "trailers"', async (t) => {
  t.same(forwardH2Headers({ te: 'trailers', a: 'b' }, new Set(), {}), { te: 'trailers', a: 'b' }, 'gRPC keeps te: trailers');
  t.same(forwardH2Headers({ te: 'gzip', a: 'b' }, new Set(), {}), { a: 'b' });
  t.same(forwardRawHeaders(['TE', 'trailers', 'A', 'b'], new Set(), []), ['A', 'b'], 'HTTP/1.1 TE is per connection');
});

t.test('only bodiless GET, HEAD and OPTIONS may be resent after a reset of a reused connection', async (t) => {
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    t.ok(mayResendAfterReset(method, {}), method);
    t.ok(mayResendAfterReset(method, { 'content-length': '0' }), `${method} with an empty body`);
    t.notOk(mayResendAfterReset(method, { 'content-length': '5' }), `${method} with a body`);
    t.notOk(mayResendAfterReset(method, { 'transfer-encoding': 'chunked' }), `${method} chunked`);
  }
  for (const method of ['DELETE', 'PUT', 'POST', 'PATCH', 'CONNECT', undefined]) t.notOk(mayResendAfterReset(method, {}), String(method));
  t.same([...RETRY_SAFE_METHODS].sort(), ['GET', 'HEAD', 'OPTIONS']);
});

t.test('classifies handshake failures', async (t) => {
  t.equal(handshakeFailureReason(Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' })), 'not_tls');
  t.equal(handshakeFailureReason(new Error('ssl3_get_record:http request')), 'not_tls');
  t.equal(handshakeFailureReason(new Error('tls_early_post_process_client_hello:unsupported protocol')), 'tls_version');
  t.equal(handshakeFailureReason(new Error('peer did not return a certificate')), 'no_client_cert');
  t.equal(handshakeFailureReason(new Error('socket hang up')), 'reset');
  t.equal(handshakeFailureReason(new Error('???')), 'other');
});

t.test('identities: format, parse, and read from Node subjectaltname', async (t) => {
  t.equal(formatIdentity({ trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b' }), 'spiffe://cluster.local/ns/a/sa/b');
  t.throws(() => formatIdentity({ trustDomain: 'cluster.local', namespace: 'A_B', serviceAccount: 'b' }), { code: 'WEFT_ERR_IDENTITY_INVALID' });
  t.same(parseIdentity('spiffe://td/ns/a/sa/b'), { trustDomain: 'td', namespace: 'a', serviceAccount: 'b' });
  t.equal(parseIdentity('spiffe://td/ns/a/sa/b/extra'), undefined);
  t.equal(identityFromSubjectAltName('URI:spiffe://td/ns/a/sa/b'), 'spiffe://td/ns/a/sa/b');
  t.equal(identityFromSubjectAltName('DNS:x, URI:spiffe://td/ns/a/sa/b'), 'spiffe://td/ns/a/sa/b');
  t.equal(identityFromSubjectAltName('URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/a/sa/c'), undefined, 'two URIs are refused');
  t.equal(identityFromSubjectAltName('DNS:x'), undefined);
  t.equal(identityFromSubjectAltName(undefined), undefined);
});
