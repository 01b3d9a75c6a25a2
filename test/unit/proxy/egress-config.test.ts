import t from 'tap';
import { parseProxyConfig } from '../../../proxy/config.js';

const base = { WEFT_MODE: 'local', WEFT_CA_DIR: '/ca', WEFT_ENDPOINTS_FILE: '/eps', WEFT_POD_NAMESPACE: 'shop', WEFT_SERVICE_ACCOUNT: 'web' };

t.test('egress defaults to allow with no list, and no opaque ports', async (t) => {
  const c = parseProxyConfig(base);
  t.equal(c.egress.mode, 'allow');
  t.same(c.egress.entries, []);
  t.same([...c.opaquePorts], []);
});

t.test('registry-only with hosts, wildcards, IPs and CIDRs; opaque ports and ranges', async (t) => {
  const c = parseProxyConfig({ ...base, WEFT_EGRESS_MODE: 'registry-only', WEFT_EGRESS_ALLOW: 'api.example.com, *.partner.io,10.1.2.3, 192.0.2.0/24', WEFT_OPAQUE_PORTS: '3306, 25,8000-8002' });
  t.equal(c.egress.mode, 'registry-only');
  t.same(c.egress.entries, ['api.example.com', '*.partner.io', '10.1.2.3', '192.0.2.0/24']);
  t.same([...c.opaquePorts].sort((a, b) => a - b), [25, 3306, 8000, 8001, 8002]);
});

t.test('bad egress and opaque-port settings are listed with every other problem at once', async (t) => {
  let err: (Error & { code?: string }) | undefined;
  try {
    parseProxyConfig({ ...base, WEFT_EGRESS_MODE: 'deny', WEFT_EGRESS_ALLOW: 'ok.example,bad host,10.0.0.0/40', WEFT_OPAQUE_PORTS: '0,70000,9-3,x', WEFT_LOG_LEVEL: 'loud' });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  t.equal(err?.code, 'WEFT_ERR_CONFIG');
  const message = err?.message ?? '';
  t.match(message, /WEFT_EGRESS_MODE="deny" must be one of allow, registry-only/);
  t.match(message, /WEFT_EGRESS_ALLOW: "bad host" is not a host name/);
  t.match(message, /WEFT_EGRESS_ALLOW: "10\.0\.0\.0\/40" is not a CIDR/);
  for (const bad of ['"0"', '"70000"', '"9-3"', '"x"']) t.match(message, `WEFT_OPAQUE_PORTS: ${bad} is not a port or a range`);
  t.match(message, /WEFT_LOG_LEVEL/);
});
