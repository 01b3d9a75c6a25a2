// WebSocket through the real `weft gateway`: the upgrade passes the route's steps, crosses the
// mesh over mutual TLS to the backend's sidecar, and the client gets 101 and one joined stream
// (messages both ways) with a `ws` echo app; an upgrade no route serves is answered 404 and closed.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { GatewayMesh } from '../../support/gateway-mesh.js';

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [ws.test]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /chat } }], backendRefs: [{ name: chat, port: 80 }] }]
`;

t.test('a WebSocket upgrade gets 101 and a joined stream to the meshed backend', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('chat');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const gw = await mesh.startGateway(file);
  const url = `${gw.http.replace('http://', 'ws://')}/chat/room`;

  const ws = new WebSocket(url, { headers: { host: 'ws.test' } });
  const upgraded = new Promise<IncomingMessage>((resolve, reject) => {
    ws.once('upgrade', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode ?? 0}`)));
    ws.once('error', reject);
  });
  const opened = new Promise((resolve) => ws.once('open', resolve));
  const res = await upgraded;
  t.equal(res.statusCode, 101, 'the client sees 101 Switching Protocols');
  t.equal(String(res.headers.upgrade).toLowerCase(), 'websocket');
  await opened;
  const replies: string[] = [];
  const got = new Promise<void>((resolve) =>
    ws.on('message', (m: Buffer) => {
      replies.push(m.toString());
      if (replies.length === 3) resolve();
    }),
  );
  for (const m of ['one', 'two', 'three']) ws.send(m);
  await got;
  t.same(replies, ['chat-0: one', 'chat-0: two', 'chat-0: three'], 'messages cross both ways on one stream, answered by the backend pod');
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'bye');
  t.equal(await closed, 1000, 'a clean close crosses too');

  const stray = new WebSocket(url, { headers: { host: 'nobody.test' } });
  const status = await new Promise<number>((resolve, reject) => {
    stray.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
    stray.once('upgrade', () => reject(new Error('upgraded without a route')));
    stray.once('error', reject);
  });
  t.equal(status, 404, 'an upgrade no route serves is answered 404 by the gateway');
  stray.terminate();
});
