import t from 'tap';
import { parseAuthority } from '../../../../mesh/discovery/service-name.js';

const ctx = { namespace: 'shop', clusterDomain: 'cluster.local' };
const cases: [string | undefined, unknown][] = [
  ['orders', { kind: 'service', ref: { namespace: 'shop', name: 'orders', port: 80 } }],
  ['orders:8080', { kind: 'service', ref: { namespace: 'shop', name: 'orders', port: 8080 } }],
  ['orders.billing', { kind: 'service', ref: { namespace: 'billing', name: 'orders', port: 80 } }],
  ['orders.billing.svc', { kind: 'service', ref: { namespace: 'billing', name: 'orders', port: 80 } }],
  ['orders.billing.svc.cluster.local', { kind: 'service', ref: { namespace: 'billing', name: 'orders', port: 80 } }],
  ['Orders.Billing.svc.cluster.local.:9090', { kind: 'service', ref: { namespace: 'billing', name: 'orders', port: 9090 } }],
  ['10.1.2.3:8080', { kind: 'ip', address: '10.1.2.3', port: 8080 }],
  ['[fd00::1]:8080', { kind: 'ip', address: 'fd00::1', port: 8080 }],
  ['10.1.2.3', { kind: 'ip', address: '10.1.2.3', port: 80 }],
  [undefined, { kind: 'invalid', reason: 'no Host or :authority' }],
  ['', { kind: 'invalid' }],
  ['orders:0', { kind: 'invalid' }],
  ['orders:99999', { kind: 'invalid' }],
  ['orders:http', { kind: 'invalid' }],
  ['bad_name', { kind: 'invalid' }],
  ['orders.billing.svc.other.domain', { kind: 'invalid' }],
  ['orders.billing.svc.cluster', { kind: 'invalid' }],
  ['orders.billing.example.com', { kind: 'invalid' }],
];
for (const [input, expected] of cases) {
  t.test(`parses ${JSON.stringify(input)}`, async (t) => {
    t.match(parseAuthority(input, ctx), expected);
  });
}
