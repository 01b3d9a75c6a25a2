import t from 'tap';
import { forwardRawHeaders, forwardH2Headers } from '../../../mesh/headers.js';
import { renewalDelayMs, retryDelayMs } from '../../../mesh/identity/renewal.js';
import { handshakeFailureReason } from '../../../mesh/mesh-tls.js';
import { identityFromSubjectAltName, parseIdentity, formatIdentity } from '../../../lib/identity.js';

t.test('drops hop-by-hop headers and those Connection names, keeps duplicates and case', async (t) => {
  const raw = ['Host', 'a', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 's', 'Set-Cookie', '1', 'set-cookie', '2', 'weft-client-id', 'forged', 'TE', 'trailers'];
  t.same(forwardRawHeaders(raw, new Set(['weft-client-id']), [['weft-dst-port', '80']]), ['Host', 'a', 'Set-Cookie', '1', 'set-cookie', '2', 'weft-dst-port', '80']);
  t.same(forwardRawHeaders(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Host', 'h'], new Set(), [], true), ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Host', 'h'], 'upgrade keeps Connection/Upgrade');
  t.same(forwardH2Headers({ ':path': '/', connection: 'x', 'weft-dst-port': '1', a: 'b' }, new Set(['weft-dst-port']), { c: 'd' }), { ':path': '/', a: 'b', c: 'd' });
});

t.test('renews at about 70 % of the lifetime, with bounded jitter', async (t) => {
  const nb = new Date(0);
  const na = new Date(100_000);
  t.equal(renewalDelayMs(nb, na, 0, () => 0.5), 70_000);
  t.equal(renewalDelayMs(nb, na, 0, () => 0), 65_000);
  t.equal(renewalDelayMs(nb, na, 0, () => 1), 75_000);
  t.equal(renewalDelayMs(nb, na, 90_000, () => 0.5), 0, 'already due');
  t.equal(retryDelayMs(1, () => 0), 250);
  t.equal(retryDelayMs(20, () => 1), 30_000, 'capped');
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
