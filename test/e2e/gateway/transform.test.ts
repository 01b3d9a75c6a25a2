// TransformPolicy on the real gateway in front of a meshed echo backend: query edits and a JSON
// request body as the backend receives them, a JSON response body as the client receives it, the
// coded refusals (413 over the cap, 400 for invalid JSON), bodies the policy does not touch
// (not JSON, compressed, over the response cap), and a 200 MB upload and download on a route with
// no body transform streaming with the gateway's RSS growing less than 64 MB.
import t from 'tap';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GatewayMesh, request, type GatewayProc } from '../../support/gateway-mesh.js';
import { rss } from '../../support/local-mesh.js';
import { sidecarNodeOptions } from '../../../lib/node-options.js';

const MB = 1024 * 1024;
const TOTAL = 200 * MB;

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: edit, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [edit.test]
  rules: [{ backendRefs: [{ name: api, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: plain, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [plain.test]
  rules: [{ backendRefs: [{ name: api, port: 80 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: TransformPolicy
metadata: { name: edit, namespace: test }
spec:
  targetRef: { kind: HTTPRoute, name: edit }
  query:
    rename: [{ from: q, to: search }]
    remove: [debug]
    set: [{ name: v, value: "3" }]
    add: [{ name: tag, value: new }]
  requestBody:
    maxBytes: 1024
    edits:
      - { op: set, path: /meta/via, value: edge }
      - { op: remove, path: /password }
      - { op: rename, from: /user_name, path: /userName }
      - { op: set, path: /tags/-, value: { added: true } }
  responseBody:
    maxBytes: 4096
    edits:
      - { op: remove, path: /headers }
      - { op: rename, from: /backend, path: /service }
      - { op: set, path: /edited, value: true }
---
apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: edit-cache, namespace: test }
spec:
  targetRef: { kind: HTTPRoute, name: edit }
  defaultTtl: 60s
`;

const mesh = await GatewayMesh.create();
t.teardown(() => mesh.close());
await mesh.addService('api');
const file = join(mesh.dir, 'routes.yaml');
await writeFile(file, ROUTES);
// The heap bound weft up and the injector give a sidecar without a memory limit (lib/node-options.ts).
const NODE_OPTIONS = sidecarNodeOptions(undefined);
const gw: GatewayProc = await mesh.startGateway(file, { NODE_OPTIONS });

interface EditedEcho {
  service?: string;
  backend?: string;
  headers?: unknown;
  edited?: boolean;
  url: string;
  body?: string;
  bodyBytes: number;
}
const asEdited = (body: string): EditedEcho => JSON.parse(body) as EditedEcho;

t.test('query edits are what the backend receives; untouched parameters keep their encoding', async (t) => {
  const res = await request(`${gw.http}/items?q=a%20b&debug=1&v=1&keep=x+y&v=2&flag`, { headers: { host: 'edit.test' } });
  t.equal(res.status, 200);
  t.equal(asEdited(res.body).url, '/items?search=a%20b&v=3&keep=x+y&flag&tag=new');
});

t.test('the JSON request body is edited as the backend sees it, with its Content-Length recomputed', async (t) => {
  const sent = JSON.stringify({ user_name: 'ann', password: 'secret', tags: ['a'], meta: {} });
  const res = await request(`${gw.http}/users`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json; charset=utf-8' }, body: sent });
  t.equal(res.status, 200);
  const got = asEdited(res.body);
  const body = JSON.parse(got.body ?? 'null') as Record<string, unknown>;
  t.same(body, { tags: ['a', { added: true }], meta: { via: 'edge' }, userName: 'ann' }, 'set, remove, rename and an array append applied in order');
  t.equal(got.bodyBytes, Buffer.byteLength(got.body ?? ''), 'the backend read exactly the edited bytes');
  const seen = mesh.received.at(-1);
  t.equal(seen?.headers['content-length'], String(got.bodyBytes), 'Content-Length is the edited length');
});

t.test('a chunked JSON request body arrives edited with a Content-Length and no Transfer-Encoding', async (t) => {
  const got = await new Promise<EditedEcho>((resolve, reject) => {
    const req = http.request(`${gw.http}/chunked`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/vnd.test+json' }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(asEdited(text)));
    });
    req.on('error', reject);
    req.write('{"password":');
    req.end('"x","keep":1}');
  });
  t.same(JSON.parse(got.body ?? 'null'), { keep: 1 }, 'a +json type is edited; the edits whose parent (/meta, /tags) is missing do nothing');
  const seen = mesh.received.at(-1);
  t.equal(seen?.headers['transfer-encoding'], undefined);
  t.equal(seen?.headers['content-length'], String(got.bodyBytes));
});

t.test('the JSON response body is edited as the client sees it', async (t) => {
  const res = await request(`${gw.http}/resp`, { headers: { host: 'edit.test' } });
  t.equal(res.status, 200);
  const got = asEdited(res.body);
  t.equal(got.service, 'api', '/backend renamed to /service');
  t.equal(got.backend, undefined);
  t.equal(got.headers, undefined, '/headers removed');
  t.equal(got.edited, true, '/edited set');
  t.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)), 'Content-Length is the edited length');
  t.equal(res.headers['x-echo-backend'], 'api', "the backend's other headers pass");
});

t.test('a route that edits response bodies is not cached: each answer is edited afresh', async (t) => {
  for (let i = 0; i < 2; i++) {
    const res = await request(`${gw.http}/cacheable?resp-cache-control=public,max-age=60`, { headers: { host: 'edit.test' } });
    t.equal(res.status, 200);
    t.equal(asEdited(res.body).edited, true, `answer ${i + 1} edited`);
    t.equal(res.headers['cache-status'], 'weft; fwd=bypass; detail=response-transform', `answer ${i + 1} not from cache`);
  }
});

t.test('a JSON request body over the cap is refused 413 WEFT_ERR_BODY_TOO_LARGE, declared or chunked', async (t) => {
  const big = JSON.stringify({ pad: 'x'.repeat(2000) });
  const before = mesh.received.length;
  const declared = await request(`${gw.http}/big`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json' }, body: big });
  t.equal(declared.status, 413);
  t.equal(declared.headers['weft-error'], 'WEFT_ERR_BODY_TOO_LARGE');
  const chunked = await new Promise<{ status: number; code: string | string[] | undefined }>((resolve, reject) => {
    const req = http.request(`${gw.http}/big`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['weft-error'] }));
    });
    req.on('error', reject);
    req.write(big.slice(0, 1000));
    req.end(big.slice(1000));
  });
  t.same(chunked, { status: 413, code: 'WEFT_ERR_BODY_TOO_LARGE' });
  t.equal(mesh.received.length, before, 'the backend never saw either');
  t.match(await gw.log(), /"code":"WEFT_ERR_BODY_TOO_LARGE","policy":"TransformPolicy test\/edit"/);
});

t.test('an invalid JSON request body is refused 400 WEFT_ERR_BODY_NOT_JSON', async (t) => {
  const res = await request(`${gw.http}/bad`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json' }, body: '{"a":' });
  t.equal(res.status, 400);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_BODY_NOT_JSON');
});

t.test('a client that leaves in the middle of a JSON body costs only its own request', async (t) => {
  const pid = gw.proc.child.pid;
  await new Promise<void>((resolve) => {
    const req = http.request(`${gw.http}/gone`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json', 'content-length': '500' }, agent: false });
    req.on('error', () => resolve());
    req.write('{"half":', () => setImmediate(() => req.destroy()));
    req.on('close', () => resolve());
  });
  const next = await request(`${gw.http}/after`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json' }, body: '{"password":"p"}' });
  t.equal(next.status, 200, 'the gateway answers the next request');
  t.same(JSON.parse(asEdited(next.body).body ?? 'null'), {}, 'and still edits bodies');
  t.equal(gw.proc.child.pid, pid);
  t.notOk(gw.proc.exited, 'the gateway process is still running');
});

t.test('bodies that are not JSON, or compressed, pass as sent', async (t) => {
  const text = '{"password":"kept"}';
  const plain = await request(`${gw.http}/text`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'text/plain' }, body: text });
  t.equal(asEdited(plain.body).bodyBytes, text.length, 'a text/plain body is not read by the policy');
  const gz = gzipSync(Buffer.from(text));
  const zipped = await request(`${gw.http}/gz`, { method: 'POST', headers: { host: 'edit.test', 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gz });
  t.equal(zipped.status, 200);
  t.equal(asEdited(zipped.body).bodyBytes, gz.length, 'a gzip JSON body passes byte for byte');
});

t.test('a response over the cap, or not valid JSON, reaches the client unmodified and is counted', async (t) => {
  const over = await request(`${gw.http}/dl?downloadBytes=10000&json=1`, { headers: { host: 'edit.test' } });
  t.equal(over.status, 200);
  t.equal(over.body, 'a'.repeat(10000), 'every byte, unmodified');
  const bad = await request(`${gw.http}/dl?downloadBytes=100&json=1`, { headers: { host: 'edit.test' } });
  t.equal(bad.body, 'a'.repeat(100));
  const metrics = await (await fetch(`${gw.admin}/metrics`)).text();
  t.match(metrics, /weft_gateway_body_not_edited_total\{route="test\/edit\/0",reason="over-cap"\} 1/);
  t.match(metrics, /weft_gateway_body_not_edited_total\{route="test\/edit\/0",reason="not-json"\} 1/);
  t.match(await gw.log(), /"reason":"over-cap".*"msg":"response body sent unmodified"/);
});

t.test('200 MB up and down on a route with no body transform stream: the gateway grows by less than 64 MB of RSS', async (t) => {
  t.equal(NODE_OPTIONS, '--max-old-space-size=64', 'the gateway runs with a 64 MB old-space bound');
  const pid = gw.proc.child.pid ?? 0;
  // Warm the path so the baseline holds the pools and code any request loads.
  await request(`${gw.http}/dl?downloadBytes=1024`, { headers: { host: 'plain.test' } });
  const baseline = await rss(pid);
  let sampledMax = baseline.rss;
  const sampler = setInterval(() => {
    rss(pid).then((r) => (sampledMax = Math.max(sampledMax, r.rss)), () => undefined);
  }, 50);
  t.teardown(() => clearInterval(sampler));

  const chunk = Buffer.alloc(MB, 0x62);
  const up = await new Promise<EditedEcho & { status: number }>((resolve, reject) => {
    const req = http.request(`${gw.http}/upload`, { method: 'POST', headers: { host: 'plain.test', 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ ...asEdited(text), status: res.statusCode ?? 0 }));
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
  t.equal(up.status, 200);
  t.equal(up.bodyBytes, TOTAL, 'the backend received every byte');

  const down = await new Promise<number>((resolve, reject) => {
    http
      .get(`${gw.http}/dl?downloadBytes=${TOTAL}`, { headers: { host: 'plain.test' }, agent: false }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  t.equal(down, TOTAL, 'the client received every byte');
  clearInterval(sampler);
  const after = await rss(pid);
  const growth = after.peak - baseline.rss;
  const line = `NODE_OPTIONS=${NODE_OPTIONS}: baseline ${(baseline.rss / MB).toFixed(1)} MB, sampled max ${(sampledMax / MB).toFixed(1)} MB, peak (VmHWM) ${(after.peak / MB).toFixed(1)} MB, growth ${(growth / MB).toFixed(1)} MB`;
  t.comment(line);
  t.ok(growth < 64 * MB, line);
  t.ok(sampledMax - baseline.rss < 64 * MB, 'the samples taken while streaming agree');
});
