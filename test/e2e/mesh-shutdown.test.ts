// SIGTERM drains: the proxy stops accepting, lets the slow request in flight finish, then exits 0.
import t from 'tap';
import net from 'node:net';
import { LocalMesh, randomBase, get, type PodSpec } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';

const base = randomBase();
const client: PodSpec = { name: 'client-0', address: `${base}.1`, serviceAccount: 'client' };
const server: PodSpec = { name: 'slow-0', address: `${base}.2`, serviceAccount: 'slow' };
const mesh = await LocalMesh.create();
const app = await startEchoApp({ pod: server.name, address: server.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
await mesh.setServices([{ name: 'slow', port: 80, targetPort: 8080, pods: [server] }]);

t.test('SIGTERM to the server sidecar during a slow request lets it finish, then exits 0', async (t) => {
  await mesh.startProxy(client);
  const serverProxy = await mesh.startProxy(server, { WEFT_SHUTDOWN_GRACE_MS: '10000' });
  const slow = get(`http://${client.address}:7001/slow?ms=1500`, { host: 'slow' });
  await new Promise((r) => setTimeout(r, 300));
  serverProxy.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  // Draining: the inbound listener accepts no new connection.
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(7006, server.address);
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  t.ok(refused, 'new connections are refused while draining');
  const res = await slow;
  t.equal(res.status, 200, 'the in-flight request finished');
  t.match(JSON.parse(res.body), { sleptMs: 1500 });
  t.equal(await serverProxy.exited, 0, 'exit status 0');
  t.match(await serverProxy.log(), /"clean":true/, 'the proxy logged a clean drain');
});

t.test('SIGTERM to the client sidecar during a slow request lets it finish too', async (t) => {
  const other: PodSpec = { name: 'client-1', address: `${base}.3`, serviceAccount: 'client' };
  await mesh.startProxy(server);
  const clientProxy = await mesh.startProxy(other, { WEFT_SHUTDOWN_GRACE_MS: '10000' });
  const slow = get(`http://${other.address}:7001/slow?ms=1200`, { host: 'slow' });
  await new Promise((r) => setTimeout(r, 300));
  clientProxy.child.kill('SIGTERM');
  const res = await slow;
  t.equal(res.status, 200);
  t.equal(res.headers.connection, 'close', 'the app is told to reconnect elsewhere');
  t.equal(await clientProxy.exited, 0);
});

t.test('a request still running when the grace period ends is cut, and the proxy still exits', async (t) => {
  const other: PodSpec = { name: 'client-2', address: `${base}.4`, serviceAccount: 'client' };
  const clientProxy = await mesh.startProxy(other, { WEFT_SHUTDOWN_GRACE_MS: '300' });
  const slow = get(`http://${other.address}:7001/slow?ms=3000`, { host: 'slow' }).then(
    () => 'answered',
    () => 'cut',
  );
  await new Promise((r) => setTimeout(r, 200));
  clientProxy.child.kill('SIGTERM');
  t.equal(await slow, 'cut');
  t.equal(await clientProxy.exited, 0);
  t.match(await clientProxy.log(), /grace period over/);
});
