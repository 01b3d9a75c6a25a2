import t from 'tap';
import { addressInfoIn, parseEndpointsFile } from '../../../../mesh/discovery/local-endpoint-source.js';

const DB_ID = 'spiffe://cluster.local/ns/shop/sa/db';
const file = parseEndpointsFile(
  JSON.stringify({
    services: [
      { name: 'db', namespace: 'shop', clusterIP: '10.96.0.5', opaquePorts: [3307], ports: [{ port: 5432 }, { port: 3307, targetPort: 3306 }], endpoints: [{ address: '10.0.0.3', identity: DB_ID, podName: 'db-0' }] },
      { name: 'web', namespace: 'shop', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: '10.0.0.2', identity: 'spiffe://cluster.local/ns/shop/sa/web' }] },
    ],
  }),
  'test',
);

t.test('a ClusterIP with one of its service ports is that service, with its opaque ports', async (t) => {
  t.same(addressInfoIn(file, '10.96.0.5', 5432), { kind: 'service', service: { namespace: 'shop', name: 'db', port: 5432 }, opaquePorts: [3307] });
  t.same(addressInfoIn(file, '10.96.0.5', 9999), { kind: 'unknown' }, 'a port the service does not have');
});

t.test('a pod address is a meshed pod; its opaque ports are the target ports', async (t) => {
  t.same(addressInfoIn(file, '10.0.0.3', 3306), {
    kind: 'pod',
    owner: { identity: DB_ID, podName: 'db-0', service: { namespace: 'shop', name: 'db', port: 3307 }, meshed: true, opaquePorts: [3306] },
  });
  t.match(addressInfoIn(file, '10.0.0.2', 8080), { kind: 'pod', owner: { meshed: true } });
  t.same(addressInfoIn(file, '10.0.0.9', 80), { kind: 'unknown' });
});

t.test('a bad clusterIP or opaquePorts is listed with the other problems', async (t) => {
  t.throws(
    () => parseEndpointsFile(JSON.stringify({ services: [{ name: 'a', clusterIP: 'nope', opaquePorts: ['x'], ports: [{ port: 1 }] }] }), 'f'),
    /services\[0\]\.clusterIP: "nope" is not an IP address[\s\S]*services\[0\]\.opaquePorts: expected a list of port numbers/,
  );
});
