import t from 'tap';
import { parseProxyConfig } from '../../../proxy/config.js';
import { makeTestPki } from '../../support/pki.js';

t.test('local mode with defaults', async (t) => {
  const c = parseProxyConfig({ WEFT_MODE: 'local', WEFT_CA_DIR: '/ca', WEFT_ENDPOINTS_FILE: '/eps', WEFT_POD_NAMESPACE: 'shop', WEFT_SERVICE_ACCOUNT: 'web' });
  t.equal(c.identity, 'spiffe://cluster.local/ns/shop/sa/web');
  t.same(c.inbound, { host: '0.0.0.0', port: 7006 });
  t.same(c.outbound, { host: '127.0.0.1', port: 7001 });
  t.same(c.admin, { host: '0.0.0.0', port: 7020 });
  t.notOk('inboundMode' in c, 'the inbound mode is weft init\'s alone: the proxy has none');
  t.notOk('podIp' in c, 'nothing reads the pod IP');
  t.equal(c.podName, 'local', 'the pod name (for log lines) has a local-mode default');
  t.ok(Object.isFrozen(c));
});

t.test('explicit upstreams: short and long forms', async (t) => {
  const c = parseProxyConfig({ WEFT_MODE: 'local', WEFT_CA_DIR: '/ca', WEFT_ENDPOINTS_FILE: '/e', WEFT_POD_NAMESPACE: 'shop', WEFT_UPSTREAMS: 'orders:9001, payments.billing:8443@9002' });
  t.same(c.upstreams, [
    { listen: { host: '127.0.0.1', port: 9001 }, service: { name: 'orders', namespace: 'shop', port: 80 } },
    { listen: { host: '127.0.0.1', port: 9002 }, service: { name: 'payments', namespace: 'billing', port: 8443 } },
  ]);
});

t.test('every problem is listed at once', async (t) => {
  const err = (() => {
    try {
      parseProxyConfig({ WEFT_MODE: 'kubernetes', WEFT_INBOUND_ADDR: 'x:y', WEFT_UPSTREAMS: 'Bad!', WEFT_LOG_LEVEL: 'loud', WEFT_OUTBOUND_ADDR: '127.0.0.1:7006' });
    } catch (e) {
      return e as Error & { code?: string };
    }
    return undefined;
  })();
  t.equal(err?.code, 'WEFT_ERR_CONFIG');
  for (const problem of ['WEFT_POD_NAMESPACE is required', 'WEFT_SERVICE_ACCOUNT is required', 'WEFT_POD_NAME is required', 'WEFT_INBOUND_ADDR', 'WEFT_UPSTREAMS', 'WEFT_LOG_LEVEL']) {
    t.match(err?.message, problem, `${problem} is listed`);
  }
  t.throws(() => parseProxyConfig({ WEFT_MODE: 'local', WEFT_CA_DIR: '/c', WEFT_ENDPOINTS_FILE: '/e', WEFT_OUTBOUND_ADDR: '127.0.0.1:7006' }), { message: /ports collide/ });
  t.throws(() => parseProxyConfig({ WEFT_MODE: 'local' }), { message: /WEFT_CA_DIR is required[\s\S]*WEFT_ENDPOINTS_FILE is required/ });
  t.throws(() => parseProxyConfig({ WEFT_MODE: 'local', WEFT_CA_DIR: '/c', WEFT_ENDPOINTS_FILE: '/e', WEFT_POD_NAMESPACE: 'Not_Valid' }), { message: /namespace/ });
});

t.test('WEFT_TRUST_ANCHORS: PEM text in kubernetes mode, checked at start', async (t) => {
  const pki = await makeTestPki();
  const root = pki.authority.root.toString('pem');
  const base = { WEFT_MODE: 'kubernetes', WEFT_POD_NAMESPACE: 'shop', WEFT_SERVICE_ACCOUNT: 'web', WEFT_POD_NAME: 'web-0' };
  const c = parseProxyConfig({ ...base, WEFT_TRUST_ANCHORS: `\n${root}\n` });
  t.equal(c.kubernetes?.trustAnchors, root.trim() + '\n', 'the bundle is kept, trimmed to its certificates');
  t.equal(c.kubernetes?.trustAnchorsFile, '/var/run/weft/trust/roots.pem', 'the file stays the alternative');
  const unset = parseProxyConfig({ ...base, WEFT_TRUST_ANCHORS_FILE: '/etc/roots.pem' });
  t.equal(unset.kubernetes?.trustAnchors, undefined, 'unset: the file is used');
  t.equal(unset.kubernetes?.trustAnchorsFile, '/etc/roots.pem');
  t.throws(() => parseProxyConfig({ ...base, WEFT_TRUST_ANCHORS: 'not a pem' }), { code: 'WEFT_ERR_CONFIG', message: /WEFT_TRUST_ANCHORS holds no PEM CERTIFICATE/ });
  const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  t.throws(() => parseProxyConfig({ ...base, WEFT_TRUST_ANCHORS: broken }), { code: 'WEFT_ERR_CONFIG', message: /WEFT_TRUST_ANCHORS PEM block 1 is not a parsable/ });
  const key = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
  t.throws(() => parseProxyConfig({ ...base, WEFT_TRUST_ANCHORS: root + key }), { message: /WEFT_TRUST_ANCHORS PEM block 2 is a PRIVATE KEY/ });
  t.throws(() => parseProxyConfig({ ...base, WEFT_TRUST_ANCHORS: root + 'junk' }), { message: /WEFT_TRUST_ANCHORS holds text outside/ });
});
