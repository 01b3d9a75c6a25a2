import t from 'tap';
import { endpointByAddress, parseEndpointsFile } from '../../../../mesh/discovery/local-endpoint-source.js';

const file = parseEndpointsFile(
  JSON.stringify({
    services: [
      { name: 'web', namespace: 'shop', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: '10.0.0.5', identity: 'spiffe://cluster.local/ns/shop/sa/web', podName: 'web-0' }] },
      { name: 'db', namespace: 'shop', ports: [{ port: 5432 }], endpoints: [{ address: '10.0.0.5', identity: 'spiffe://cluster.local/ns/shop/sa/web' }] },
      { name: 'other', namespace: 'shop', ports: [{ port: 9000 }], endpoints: [{ address: '10.0.0.6', identity: 'spiffe://cluster.local/ns/shop/sa/other' }] },
    ],
  }),
  'test',
);

t.test('endpointByAddress finds the pod, preferring the service with that target port', async (t) => {
  t.same(endpointByAddress(file, '10.0.0.5', 5432), {
    identity: 'spiffe://cluster.local/ns/shop/sa/web',
    service: { namespace: 'shop', name: 'db', port: 5432 },
  });
  t.same(endpointByAddress(file, '10.0.0.5', 8080), {
    identity: 'spiffe://cluster.local/ns/shop/sa/web',
    podName: 'web-0',
    service: { namespace: 'shop', name: 'web', port: 80 },
  });
  t.same(endpointByAddress(file, '10.0.0.5', 1234)?.service, { namespace: 'shop', name: 'web', port: 80 }, 'any port: first service');
  t.equal(endpointByAddress(file, '10.0.0.7', 80), undefined);
});
