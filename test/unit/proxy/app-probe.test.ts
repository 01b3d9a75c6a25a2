import t from 'tap';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { isWeftError } from '../../../lib/errors.js';
import {
  createAppProbeHandler,
  decodeHealthResponse,
  encodeHealthRequest,
  parseAppProbes,
  type AppProbe,
} from '../../../proxy/app-probe.js';
import { makeTestPki } from '../../support/pki.js';

const host = '127.0.0.1';

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createNetServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

t.test('parseAppProbes', async (t) => {
  t.test('reads the contract example with ports, schemes, services and timeouts', async (t) => {
    const probes = parseAppProbes(
      JSON.stringify({
        'web/readiness': { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'X-A', value: 'b' }] }, timeoutSeconds: 3 },
        'db/liveness': { tcpSocket: { port: 5432 } },
        'api/startup': { grpc: { port: 9090, service: '' } },
      }),
    );
    t.same(probes.get('web/readiness'), { type: 'http', port: 8080, path: '/healthz', scheme: 'HTTP', headers: [{ name: 'X-A', value: 'b' }], timeoutMs: 3000 });
    t.same(probes.get('db/liveness'), { type: 'tcp', port: 5432, timeoutMs: 1000 });
    t.same(probes.get('api/startup'), { type: 'grpc', port: 9090, service: '', timeoutMs: 1000 });
  });
  t.test('unset or empty means no probes', async (t) => {
    t.equal(parseAppProbes(undefined).size, 0);
    t.equal(parseAppProbes('  ').size, 0);
  });
  t.test('lists every problem at once with its key', async (t) => {
    try {
      parseAppProbes(
        JSON.stringify({
          'Web/readiness': { tcpSocket: { port: 1 } },
          'a/liveness': { tcpSocket: { port: 70000 } },
          'b/startup': { httpGet: { port: 80, path: 'nope' } },
          'c/readiness': { httpGet: { port: 80 }, tcpSocket: { port: 80 } },
          'd/liveness': { exec: { command: ['true'] } },
          'e/liveness': { grpc: { port: 9 }, timeoutSeconds: 0 },
        }),
      );
      t.fail('should throw');
    } catch (err) {
      t.ok(isWeftError(err, 'WEFT_ERR_CONFIG'));
      const msg = (err as Error).message;
      t.match(msg, /"Web\/readiness"\]: the key must be/);
      t.match(msg, /"a\/liveness"\]\.tcpSocket\.port must be a port number/);
      t.match(msg, /"b\/startup"\]\.httpGet\.path must be a string starting with \//);
      t.match(msg, /"c\/readiness"\]: must have exactly one of httpGet, tcpSocket, grpc \(has httpGet, tcpSocket\)/);
      t.match(msg, /"d\/liveness"\]: must have exactly one .* \(has none\)/);
      t.match(msg, /"e\/liveness"\]\.timeoutSeconds must be a positive integer/);
    }
  });
  t.test('rejects text that is not a JSON object', async (t) => {
    t.throws(() => parseAppProbes('{nope'), /WEFT_APP_PROBES is not JSON/);
    t.throws(() => parseAppProbes('[1]'), /must be a JSON object keyed/);
  });
});

t.test('health-check protobuf by hand', async (t) => {
  t.same([...encodeHealthRequest('')], [0, 0, 0, 0, 0], 'empty service: empty message');
  t.same([...encodeHealthRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
  t.equal(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 1])), 1);
  t.equal(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 0])), 0, 'absent status is UNKNOWN');
  t.match(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 9, 0x08])), /truncated/);
  t.match(decodeHealthResponse(Buffer.from([1, 0, 0, 0, 0])), /compressed/);
});

t.test('HTTP probes replay against a real server', async (t) => {
  let status = 200;
  let seen: Record<string, string | string[] | undefined> = {};
  const server = createHttpServer((req, res) => {
    seen = req.headers;
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
    res.writeHead(req.url === '/healthz' ? status : 404).end();
  });
  const port = await listen(server);
  t.teardown(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  const probes = new Map<string, AppProbe>([
    ['web/readiness', { type: 'http', port, path: '/healthz', scheme: 'HTTP', headers: [{ name: 'X-Probe', value: 'yes' }], timeoutMs: 1000 }],
    ['web/liveness', { type: 'http', port, path: '/slow', scheme: 'HTTP', headers: [], timeoutMs: 1000 }],
    ['gone/readiness', { type: 'http', port: await closedPort(), path: '/', scheme: 'HTTP', headers: [], timeoutMs: 1000 }],
  ]);
  const h = createAppProbeHandler({ probes, appHost: host });
  const ok = await h.check('/app-probe/web/readiness');
  t.equal(ok.status, 200, ok.body);
  t.equal(seen['x-probe'], 'yes', 'original probe headers are sent');
  t.match(String(seen['user-agent']), /kube-probe/);
  status = 302;
  t.equal((await h.check('/app-probe/web/readiness')).status, 200, '3xx passes, as with the kubelet');
  status = 500;
  const bad = await h.check('/app-probe/web/readiness');
  t.equal(bad.status, 503);
  t.equal(bad.code, 'WEFT_ERR_APP_PROBE_FAILED');
  t.match(bad.body, /HTTP 500/);
  const slow = await h.check('/app-probe/web/liveness');
  t.equal(slow.status, 503);
  t.match(slow.body, /no answer within 900 ms/);
  const refused = await h.check('/app-probe/gone/readiness');
  t.equal(refused.status, 503);
  t.match(refused.body, /ECONNREFUSED/);
  const unknown = await h.check('/app-probe/other/readiness');
  t.equal(unknown.status, 404);
  t.equal(unknown.code, 'WEFT_ERR_APP_PROBE_UNKNOWN');
});

t.test('HTTPS probes do not verify the app certificate, as the kubelet does not', async (t) => {
  const pki = await makeTestPki();
  const leaf = await pki.leaf('spiffe://cluster.local/ns/a/sa/b');
  const server = createHttpsServer({ cert: leaf.certChainPem, key: leaf.keyPem }, (_req, res) => res.writeHead(204).end());
  const port = await listen(server);
  t.teardown(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  const h = createAppProbeHandler({
    probes: new Map([['web/startup', { type: 'http', port, path: '/', scheme: 'HTTPS', headers: [], timeoutMs: 2000 }]]),
    appHost: host,
  });
  const a = await h.check('web/startup');
  t.equal(a.status, 200, a.body);
});

t.test('TCP probes pass on connect and fail when refused', async (t) => {
  const server = createNetServer((s) => s.end());
  const port = await listen(server);
  t.teardown(() => new Promise((r) => server.close(r)));
  const h = createAppProbeHandler({
    probes: new Map<string, AppProbe>([
      ['db/liveness', { type: 'tcp', port, timeoutMs: 1000 }],
      ['db/readiness', { type: 'tcp', port: await closedPort(), timeoutMs: 1000 }],
    ]),
    appHost: host,
  });
  t.equal((await h.check('/app-probe/db/liveness')).status, 200);
  const r = await h.check('/app-probe/db/readiness');
  t.equal(r.status, 503);
  t.match(r.body, /TCP connect .* failed: .*ECONNREFUSED/);
});

t.test('gRPC probes speak grpc.health.v1 to a real @grpc/grpc-js server', async (t) => {
  const statuses: Record<string, number> = { '': 1, orders: 2 };
  const server = new grpc.Server();
  const id = (b: Buffer): Buffer => b;
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: id,
        requestDeserialize: id,
        responseSerialize: id,
        responseDeserialize: id,
      },
    },
    {
      Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        // HealthCheckRequest: optional field 1 (string).
        const req = call.request;
        const service = req.length > 2 ? req.subarray(2, 2 + (req[1] ?? 0)).toString() : '';
        const s = statuses[service];
        if (s === undefined) return cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        cb(null, Buffer.from([0x08, s]));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => server.forceShutdown());
  const h = createAppProbeHandler({
    probes: new Map<string, AppProbe>([
      ['api/readiness', { type: 'grpc', port, service: '', timeoutMs: 2000 }],
      ['api/liveness', { type: 'grpc', port, service: 'orders', timeoutMs: 2000 }],
      ['api/startup', { type: 'grpc', port, service: 'nope', timeoutMs: 2000 }],
    ]),
    appHost: host,
  });
  const serving = await h.check('/app-probe/api/readiness');
  t.equal(serving.status, 200, serving.body);
  const notServing = await h.check('/app-probe/api/liveness');
  t.equal(notServing.status, 503);
  t.match(notServing.body, /status NOT_SERVING/);
  const unknown = await h.check('/app-probe/api/startup');
  t.equal(unknown.status, 503);
  t.match(unknown.body, /grpc-status 5 \(unknown service\)/);
});

t.test('handle() answers over node:http with the weft-error header', async (t) => {
  const h = createAppProbeHandler({ probes: new Map([['x/liveness', { type: 'tcp', port: await closedPort(), timeoutMs: 500 }]]), appHost: host });
  const server = createHttpServer((req, res) => h.handle(req, res));
  const port = await listen(server);
  t.teardown(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  const get = (path: string): Promise<{ status: number; error: string | undefined; body: string }> =>
    new Promise((resolve, reject) => {
      request({ host, port, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['weft-error'] as string | undefined, body }));
      })
        .on('error', reject)
        .end();
    });
  const failed = await get('/app-probe/x/liveness');
  t.equal(failed.status, 503);
  t.equal(failed.error, 'WEFT_ERR_APP_PROBE_FAILED');
  const missing = await get('/app-probe/y/liveness');
  t.equal(missing.status, 404);
  t.equal(missing.error, 'WEFT_ERR_APP_PROBE_UNKNOWN');
});
