// gRPC and h2c through the real `weft gateway` to meshed backends (a grpc-js server or a plain
// HTTP/2 app behind a real weft sidecar): @grpc/grpc-js over the TLS listener (ALPN h2) and the
// plain listener (prior-knowledge h2c); unary, server-streaming and bidi calls with metadata; the
// failures a gRPC client must see as gRPC statuses; an h2c backend carrying plain HTTP/2 and HTTP/1.1.
import t from 'tap';
import http2 from 'node:http2';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GatewayMesh, request, type GatewayProc } from '../../support/gateway-mesh.js';
import { echoService, grpcEcho, h2cEcho, type EchoClient, type EchoMsg, type H2Echoed } from '../../support/gateway-apps.js';
import { makeWebCa } from '../../support/web-pki.js';

function secret(name: string, certPem: string, keyPem: string): string {
  const indent = (s: string): string => s.trim().split('\n').map((l) => `    ${l}`).join('\n');
  return `---
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: test }
type: kubernetes.io/tls
stringData:
  tls.crt: |
${indent(certPem)}
  tls.key: |
${indent(keyPem)}
`;
}

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
    - { name: http, port: 80, protocol: HTTP }
    - name: https
      port: 443
      protocol: HTTPS
      hostname: grpc.example.com
      tls: { certificateRefs: [{ name: grpc-cert }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: grpc-any, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [grpc.test, grpc.example.com]
  rules: [{ backendRefs: [{ name: grpc-echo, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: down, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [down.test]
  rules: [{ backendRefs: [{ name: grpc-down, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: h2, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [h2.test]
  rules: [{ backendRefs: [{ name: h2-echo, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo-rpc, namespace: test }
spec:
  parentRefs: [{ name: edge, sectionName: http }]
  hostnames: [rpc.test]
  rules:
    - matches: [{ method: { service: weft.test.Echo, method: Unary }, headers: [{ name: x-tier, value: gold }] }]
      filters:
        - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-caller, value: gold-tier }] } }
        - { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-route, value: gold }] } }
      backendRefs: [{ name: grpc-echo, port: 80 }]
    - matches: [{ method: { service: weft.test.Echo, method: Unary } }, { method: { type: RegularExpression, method: "Str.*" } }]
      backendRefs: [{ name: grpc-echo, port: 80 }]
`;

/** A finished call: its status, details, reply and metadata. */
interface Done {
  code: number;
  details: string;
  reply: EchoMsg | undefined;
  headers: grpc.Metadata | undefined;
  trailers: grpc.Metadata | undefined;
}

function unary(c: EchoClient, text: string, opts: { caller?: string; deadlineMs?: number } = {}): Promise<Done> {
  const md = new grpc.Metadata();
  if (opts.caller) md.set('x-caller', opts.caller);
  const callOpts: grpc.CallOptions = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    const call = c.Unary({ text }, md, callOpts, (err, reply) => {
      setImmediate(() => resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? '', reply, headers, trailers }));
    });
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

function collect<T>(s: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<Partial<EchoMsg>, T>): Promise<{ items: T[]; code: number }> {
  return new Promise((resolve) => {
    const items: T[] = [];
    s.on('data', (m: T) => items.push(m));
    s.on('error', () => undefined);
    s.on('status', (st: grpc.StatusObject) => resolve({ items, code: st.code }));
  });
}

// A raw HTTP/2 request: status, headers, trailers and body text.
function h2call(
  origin: string,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | undefined; body: string; endedWithHeaders: boolean }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.on('error', reject);
    const s = session.request(headers, { endStream: body === undefined });
    let got: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let endedWithHeaders = false;
    let text = '';
    s.on('response', (h, flags) => {
      got = h;
      endedWithHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    s.on('trailers', (h) => (trailers = h));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('close', () => {
      session.close();
      resolve({ headers: got, trailers, body: text, endedWithHeaders });
    });
    s.on('error', reject);
    if (body !== undefined) s.end(body);
  });
}

t.test('gRPC and h2c through the gateway', async (t) => {
  const mesh = await GatewayMesh.create();
  const gwLog: { read?: () => Promise<string> } = {};
  t.teardown(async () => {
    // A failing run shows the gateway's own account of it.
    if (!t.passing() && gwLog.read) t.comment((await gwLog.read()).split('\n').filter((l) => !l.includes('"access"')).slice(-40).join('\n'));
    await mesh.close();
  });
  await mesh.addService('grpc-echo', 1, { app: grpcEcho });
  let downApp: { close(): Promise<void> } | undefined;
  await mesh.addService('grpc-down', 1, {
    app: async (pod) => {
      downApp = await grpcEcho(pod);
      return { close: async () => undefined };
    },
  });
  await mesh.addService('h2-echo', 1, { app: h2cEcho, appProtocol: 'kubernetes.io/h2c' });
  const webCa = await makeWebCa('grpc test CA');
  const cert = await webCa.server(['grpc.example.com']);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES + secret('grpc-cert', cert.certPem, cert.keyPem));
  const gw: GatewayProc = await mesh.startGateway(file);
  gwLog.read = () => gw.log();
  const Echo = echoService();
  const plainTarget = gw.http.replace('http://', '');
  const client = (authority: string): EchoClient => {
    const c = new Echo(plainTarget, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority }) as unknown as EchoClient;
    t.teardown(() => c.close());
    return c;
  };
  const plain = client('grpc.test');

  t.test('a unary call over prior-knowledge h2c passes metadata both ways', async (t) => {
    const r = await unary(plain, 'hello', { caller: 'tester' });
    t.equal(r.code, grpc.status.OK, r.details);
    t.same(r.reply, { text: 'hello', pod: 'grpc-echo-0', caller: 'tester' }, 'request metadata reached the backend');
    t.same(r.headers?.get('x-pod'), ['grpc-echo-0'], 'response metadata came back');
    t.same(r.trailers?.get('x-done'), ['yes'], 'trailing metadata came back');
  });

  t.test('a unary call over the TLS listener (ALPN h2)', async (t) => {
    const c = new Echo(`${gw.address}:${gw.httpsPort}`, grpc.credentials.createSsl(Buffer.from(webCa.caPem)), {
      'grpc.ssl_target_name_override': 'grpc.example.com',
      'grpc.default_authority': 'grpc.example.com',
    }) as unknown as EchoClient;
    t.teardown(() => c.close());
    const r = await unary(c, 'over tls', { caller: 'tls' });
    t.equal(r.code, grpc.status.OK, r.details);
    t.equal(r.reply?.caller, 'tls');
    t.equal(r.reply?.pod, 'grpc-echo-0');
  });

  t.test('a server-streaming call streams every message', async (t) => {
    const r = await collect(plain.Stream({ text: 'tick' }, new grpc.Metadata()));
    t.equal(r.code, grpc.status.OK);
    t.same(
      r.items.map((m) => m.text),
      ['tick 0', 'tick 1', 'tick 2'],
    );
  });

  t.test('a bidi call echoes each message', async (t) => {
    const chat = plain.Chat(new grpc.Metadata());
    const done = collect(chat);
    chat.write({ text: 'a' });
    chat.write({ text: 'b' });
    chat.end();
    const r = await done;
    t.equal(r.code, grpc.status.OK);
    t.same(
      r.items.map((m) => m.text),
      ['echo a', 'echo b'],
    );
  });

  t.test('a GRPCRoute routes by service, method and metadata, with its header filters', async (t) => {
    const rpc = client('rpc.test');
    const gold = new grpc.Metadata();
    gold.set('x-tier', 'gold');
    gold.set('x-caller', 'someone');
    const r = await new Promise<Done>((resolve) => {
      let headers: grpc.Metadata | undefined;
      const call = rpc.Unary({ text: 'vip' }, gold, {}, (err, reply) => setImmediate(() => resolve({ code: err?.code ?? 0, details: err?.details ?? '', reply, headers, trailers: undefined })));
      call.on('metadata', (m: grpc.Metadata) => (headers = m));
    });
    t.equal(r.code, grpc.status.OK, r.details);
    t.equal(r.reply?.caller, 'gold-tier', 'RequestHeaderModifier set the metadata the backend saw');
    t.same(r.headers?.get('x-route'), ['gold'], 'ResponseHeaderModifier added response metadata');
    const plainCall = await unary(rpc, 'plain', { caller: 'me' });
    t.equal(plainCall.code, grpc.status.OK, plainCall.details);
    t.equal(plainCall.reply?.caller, 'me', 'without the metadata: the other rule, no filter');
    t.same(plainCall.headers?.get('x-route'), []);
    const streamed = await collect(rpc.Stream({ text: 's' }, new grpc.Metadata()));
    t.equal(streamed.code, grpc.status.OK, 'a RegularExpression method match');
    t.equal(streamed.items.length, 3);
    const chat = rpc.Chat(new grpc.Metadata());
    const unmatched = collect(chat);
    chat.end();
    const u = await unmatched;
    t.equal(u.code, grpc.status.UNIMPLEMENTED, 'a method no rule matches answers UNIMPLEMENTED');
  });

  t.test('a host no route serves answers UNIMPLEMENTED, not an HTTP 404 body', async (t) => {
    const r = await unary(client('nowhere.test'), 'x');
    t.equal(r.code, grpc.status.UNIMPLEMENTED, r.details);
    t.equal(r.details, 'WEFT_ERR_NO_ROUTE: no route for nowhere.test/weft.test.Echo/Unary', 'the message reads as written');
  });

  t.test('the gateway keeps the call deadline (grpc-timeout) even when the backend ignores it', async (t) => {
    const started = Date.now();
    const r = await h2call(gw.http, { ':method': 'POST', ':path': '/weft.test.Echo/Unary?sleepMs=5000', ':authority': 'h2.test', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' }, '');
    t.ok(Date.now() - started < 3000, 'answered before the backend would have');
    t.equal(r.headers['grpc-status'], '4', 'DEADLINE_EXCEEDED');
    t.ok(r.endedWithHeaders, 'trailers-only');
    t.equal(r.headers['weft-error'], 'WEFT_ERR_TIMEOUT');
    const viaClient = await unary(plain, 'slow:3000', { deadlineMs: 300 });
    t.equal(viaClient.code, grpc.status.DEADLINE_EXCEEDED, 'a grpc-js deadline ends as DEADLINE_EXCEEDED');
  });

  t.test('a malformed grpc-timeout is the client mistake, answered as a gRPC status', async (t) => {
    const r = await h2call(gw.http, { ':method': 'POST', ':path': '/weft.test.Echo/Unary', ':authority': 'grpc.test', 'content-type': 'application/grpc', 'grpc-timeout': 'soon' }, '');
    t.equal(r.headers[':status'], 200);
    t.equal(r.headers['weft-error'], 'WEFT_ERR_BAD_REQUEST');
    t.equal(r.headers['grpc-status'], '13');
  });

  t.test('a backend that is down answers UNAVAILABLE', async (t) => {
    const down = client('down.test');
    const before = await unary(down, 'up');
    t.equal(before.code, grpc.status.OK, 'it served while up');
    await downApp?.close();
    const r = await unary(down, 'gone');
    t.equal(r.code, grpc.status.UNAVAILABLE, r.details);
    await mesh.setReady('grpc-down', false);
    await t.resolves(async () => {
      const deadline = Date.now() + 5000;
      let last = await unary(down, 'gone');
      while (!/WEFT_ERR_NO_ENDPOINTS/.test(last.details) && Date.now() < deadline) last = await unary(down, 'gone');
      t.equal(last.code, grpc.status.UNAVAILABLE, last.details);
      t.match(last.details, /WEFT_ERR_NO_ENDPOINTS/, 'no ready endpoint: UNAVAILABLE too');
    });
  });

  t.test('an h2c backend (appProtocol kubernetes.io/h2c) carries plain HTTP/2 and HTTP/1.1 requests', async (t) => {
    const r = await h2call(gw.http, { ':method': 'GET', ':path': '/hello?x=1', ':authority': 'h2.test', 'x-test': 'yes' });
    t.equal(r.headers[':status'], 200);
    const seen = JSON.parse(r.body) as H2Echoed;
    t.equal(seen.path, '/hello?x=1');
    t.equal(seen.authority, 'h2.test');
    t.equal(seen.headers['x-test'], 'yes');
    t.equal(r.trailers?.['x-echo-trailer'], 'done', 'the backend trailers passed');
    const posted = await h2call(gw.http, { ':method': 'POST', ':path': '/up', ':authority': 'h2.test' }, 'x'.repeat(100_000));
    t.equal((JSON.parse(posted.body) as H2Echoed).bodyBytes, 100_000, 'a request body streams through');
    const h1 = await request(`${gw.http}/from-h1`, { headers: { host: 'h2.test' } });
    t.equal(h1.status, 200, 'an HTTP/1.1 client reaches the HTTP/2-only backend');
    t.equal((JSON.parse(h1.body) as H2Echoed).httpVersion, '2.0');
    t.equal(h1.headers['x-echo-pod'], 'h2-echo-0');
  });
});
