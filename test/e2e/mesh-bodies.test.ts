// Bodies stream through both sidecars without being buffered: a 200 MB upload and a 200 MB
// download leave each sidecar's peak RSS less than 64 MB above where it started.
import t from 'tap';
import http from 'node:http';
import { LocalMesh, randomBase, rss, type PodSpec } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';

const MB = 1024 * 1024;
const TOTAL = 200 * MB;
const base = randomBase();
const client: PodSpec = { name: 'client-0', address: `${base}.1`, serviceAccount: 'client' };
const server: PodSpec = { name: 'bulk-0', address: `${base}.2`, serviceAccount: 'bulk' };
const mesh = await LocalMesh.create();
const app = await startEchoApp({ pod: server.name, address: server.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
await mesh.setServices([{ name: 'bulk', port: 80, targetPort: 8080, pods: [server] }]);
const proxies = [await mesh.startProxy(client), await mesh.startProxy(server)];
const pids = proxies.map((p) => p.child.pid ?? 0);
// Warm both paths so the baseline includes the pools and code that any request loads.
await new Promise<void>((resolve) => http.get(`http://${client.address}:7001/download?bytes=1024`, { headers: { host: 'bulk' } }, (r) => r.resume().on('end', resolve)));
const baseline = await Promise.all(pids.map((pid) => rss(pid)));

t.test('a 200 MB upload streams through the mesh', async (t) => {
  const chunk = Buffer.alloc(MB, 0x62);
  const reply = await new Promise<{ status: number; bytes: number }>((resolve, reject) => {
    const req = http.request(`http://${client.address}:7001/upload`, { method: 'POST', headers: { host: 'bulk', 'content-type': 'application/octet-stream' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: (JSON.parse(body) as { bytes: number }).bytes }));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < TOTAL) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  t.equal(reply.status, 200);
  t.equal(reply.bytes, TOTAL, 'the app received every byte');
});

t.test('a 200 MB download streams through the mesh', async (t) => {
  const bytes = await new Promise<number>((resolve, reject) => {
    http.get(`http://${client.address}:7001/download?bytes=${TOTAL}`, { headers: { host: 'bulk' } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
  t.equal(bytes, TOTAL, 'the client received every byte');
});

t.test('each sidecar grew by less than 64 MB of RSS', async (t) => {
  for (const [i, pid] of pids.entries()) {
    const after = await rss(pid);
    const growth = after.peak - (baseline[i]?.rss ?? 0);
    t.ok(growth < 64 * MB, `${proxies[i]?.pod.name}: peak ${(after.peak / MB).toFixed(1)} MB, baseline ${((baseline[i]?.rss ?? 0) / MB).toFixed(1)} MB, growth ${(growth / MB).toFixed(1)} MB`);
  }
});
