// `weft gateway`'s environment: kubernetes mode takes the proxy's CA variables and an optional
// routes file; local mode still requires its files.
import t from 'tap';
import { parseGatewayConfig } from '../../../gateway/config.js';

t.test('kubernetes mode: routes file optional, CA settings as the proxy', (t) => {
  const c = parseGatewayConfig({ WEFT_MODE: 'kubernetes', WEFT_CA_ADDR: 'https://ca.example:8443', WEFT_TOKEN_FILE: '/t' });
  t.equal(c.mode, 'kubernetes');
  t.equal(c.routesFile, '', 'no routes file: routes come from the API server');
  t.same(c.kubernetes, {
    caAddr: 'https://ca.example:8443',
    trustAnchorsFile: '/var/run/weft/trust/roots.pem',
    tokenFile: '/t',
    // The gateway watches the API server itself unless told to ask weft destination.
    destinationAddr: '',
    destinationIdentity: 'spiffe://cluster.local/ns/weft-system/sa/weft-destination',
    negativeTtlMs: 30_000,
  });
  t.equal(c.local, undefined);
  t.equal(c.identity, 'spiffe://cluster.local/ns/weft-system/sa/weft-gateway');
  t.equal(parseGatewayConfig({ WEFT_GATEWAY_ROUTES_FILE: '/r.yaml' }).routesFile, '/r.yaml', 'a routes file still wins when set');
  t.end();
});

t.test('local mode still requires its files, all listed at once', (t) => {
  t.throws(() => parseGatewayConfig({ WEFT_MODE: 'local' }), { code: 'WEFT_ERR_CONFIG', message: /WEFT_GATEWAY_ROUTES_FILE[\s\S]*WEFT_CA_DIR[\s\S]*WEFT_ENDPOINTS_FILE/ });
  const c = parseGatewayConfig({ WEFT_MODE: 'local', WEFT_GATEWAY_ROUTES_FILE: 'r', WEFT_CA_DIR: 'ca', WEFT_ENDPOINTS_FILE: 'e' });
  t.equal(c.kubernetes, undefined);
  t.same(c.local, { caDir: 'ca', endpointsFile: 'e' });
  t.end();
});

t.test('kubernetes mode takes the trust anchors inline, as the proxy does, and refuses a bad bundle', async (t) => {
  const { makeTestPki } = await import('../../support/pki.js');
  const pem = (await makeTestPki()).authority.root.toString('pem');
  const c = parseGatewayConfig({ WEFT_MODE: 'kubernetes', WEFT_TRUST_ANCHORS: pem });
  t.match(c.kubernetes?.trustAnchors, /BEGIN CERTIFICATE/);
  t.throws(() => parseGatewayConfig({ WEFT_MODE: 'kubernetes', WEFT_TRUST_ANCHORS: 'not a pem' }), { code: 'WEFT_ERR_CONFIG', message: /WEFT_TRUST_ANCHORS/ });
});
