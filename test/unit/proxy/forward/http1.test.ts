// forwardHttp1 against real local sockets: streaming, coded errors, and the one retry of a
// bodiless idempotent request whose pooled connection was closed under it.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { forwardHttp1, type ForwardHooks } from '../../../../proxy/forward/http1.js';
import { forwardRawHeaders } from '../../../../mesh/headers.js';
import { AppUpstreams } from '../../../../proxy/forward/app-upstreams.js';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

// An upstream that answers the first request on each connection and resets the connection on
// the second one without answering: what a keep-alive race looks like from the client.
async function flakyUpstream(): Promise<{ port: number; connections: () => number; close: () => void }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    let requests = 0;
    socket.on('data', (d) => {
      const n = (d.toString().match(/\r\n\r\n/g) ?? []).length;
      for (let i = 0; i < n; i++) {
        requests += 1;
        if (requests === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
        else socket.resetAndDestroy();
      }
    });
    socket.on('error', () => {});
  });
  const port = await listen(server);
  return { port, connections: () => connections, close: () => server.close() };
}

async function proxyTo(port: number, apps: AppUpstreams, results: { status: number; error?: string }[]): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((req, res) => {
    const record: { status: number; error?: string } = { status: 0 };
    results.push(record);
    const hooks: ForwardHooks = {
      onResponse: (status) => (record.status = status),
      onEnd: (error) => {
        if (error) record.error = error === 'client_closed' ? error : error.code;
      },
    };
    forwardHttp1(req, res, { ...apps.get(port), what: 'test upstream', unreachable: 'WEFT_ERR_CONNECT' }, forwardRawHeaders(req.rawHeaders, new Set(), []), hooks);
  });
  const p = await listen(server);
  return { port: p, close: () => server.close() };
}

function request(port: number, method: string, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: '/', agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('a GET whose reused connection is reset before answering is retried once on a fresh one', async (t) => {
  const upstream = await flakyUpstream();
  const agent = new AppUpstreams('127.0.0.1', undefined);
  const results: { status: number; error?: string }[] = [];
  const proxy = await proxyTo(upstream.port, agent, results);
  t.teardown(() => {
    proxy.close();
    upstream.close();
    agent.close();
  });
  t.equal((await request(proxy.port, 'GET')).status, 200, 'first request opens the connection');
  t.equal((await request(proxy.port, 'GET')).status, 200, 'second reuses it, is reset, and is retried');
  t.equal(upstream.connections(), 2, 'the retry used a new connection');
  t.same(results.map((r) => r.status), [200, 200]);
});

t.test('a POST with a body is not retried: it fails with a coded 502', async (t) => {
  const upstream = await flakyUpstream();
  const agent = new AppUpstreams('127.0.0.1', undefined);
  const results: { status: number; error?: string }[] = [];
  const proxy = await proxyTo(upstream.port, agent, results);
  t.teardown(() => {
    proxy.close();
    upstream.close();
    agent.close();
  });
  t.equal((await request(proxy.port, 'GET')).status, 200);
  const res = await request(proxy.port, 'POST', 'payload');
  t.equal(res.status, 502);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_UPSTREAM_RESET');
  t.equal(upstream.connections(), 1, 'no second attempt');
  t.equal(results[1]?.error, 'WEFT_ERR_UPSTREAM_RESET');
});

t.test('an upstream that refuses connections is WEFT_ERR_CONNECT', async (t) => {
  const closed = net.createServer();
  const port = await listen(closed);
  closed.close();
  const results: { status: number; error?: string }[] = [];
  const proxy = await proxyTo(port, new AppUpstreams('127.0.0.1', undefined), results);
  t.teardown(() => proxy.close());
  const res = await request(proxy.port, 'GET');
  t.equal(res.status, 502);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_CONNECT');
  t.match(res.body, /cannot reach test upstream: ECONNREFUSED/);
});
