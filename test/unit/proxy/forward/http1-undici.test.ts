// forwardHttp1 over undici against raw upstream sockets: header case and order both ways, the
// one resend on a reused connection's reset (never a second), an upstream dying mid-body, a
// client leaving mid-request, trailers, and Expect: 100-continue.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { forwardHttp1, type ForwardHooks } from '../../../../proxy/forward/http1.js';
import { forwardRawHeaders } from '../../../../mesh/headers.js';
import { AppUpstreams } from '../../../../proxy/forward/app-upstreams.js';

interface Record {
  status: number;
  error?: string;
  ended: boolean;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

// A raw upstream: `onRequest` gets each request head (as sent, bytes intact) and the socket.
async function rawUpstream(onRequest: (head: string, socket: net.Socket, n: number) => void): Promise<{ port: number; connections: () => number; requests: () => number; close: () => void }> {
  let connections = 0;
  let requests = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      let at = buffered.indexOf('\r\n\r\n');
      while (at >= 0) {
        const head = buffered.slice(0, at);
        buffered = buffered.slice(at + 4);
        requests += 1;
        onRequest(head, socket, requests);
        at = buffered.indexOf('\r\n\r\n');
      }
    });
    socket.on('error', () => {});
  });
  const port = await listen(server);
  return { port, connections: () => connections, requests: () => requests, close: () => server.close() };
}

async function proxyTo(t: { teardown(fn: () => void): void }, port: number, records: Record[]): Promise<number> {
  const apps = new AppUpstreams('127.0.0.1', undefined);
  const server = http.createServer((req, res) => {
    const record: Record = { status: 0, ended: false };
    records.push(record);
    const hooks: ForwardHooks = {
      onResponse: (status) => (record.status = status),
      onEnd: (error) => {
        record.ended = true;
        if (error) record.error = error === 'client_closed' ? error : error.code;
      },
    };
    forwardHttp1(req, res, apps.get(port), forwardRawHeaders(req.rawHeaders, new Set(), []), hooks);
  });
  const p = await listen(server);
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
    apps.close();
  });
  return p;
}

// A raw client: writes `request` and returns everything the proxy answered until it closed or `until` matched.
function rawExchange(port: number, request: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request, 'latin1'));
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (until.test(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

t.test('header names keep their case and order both ways (Host and Content-Length excepted on the way in)', async (t) => {
  let seen = '';
  const upstream = await rawUpstream((head, socket) => {
    seen = head;
    socket.write('HTTP/1.1 200 OK\r\nX-Zeta: 1\r\nx-MiXeD-Case: two\r\nContent-Length: 2\r\nAlpha: 3\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nok');
  });
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  const answer = await rawExchange(port, 'GET /path?q=1 HTTP/1.1\r\nHost: Orders\r\nX-Zeta: z\r\nx-MiXeD-Case: m\r\nAlpha: a\r\nX-Value: caf\xe9\r\n\r\n', /\r\n\r\nok/);
  const sent = seen.split('\r\n');
  t.equal(sent[0], 'GET /path?q=1 HTTP/1.1', 'method, path and query unchanged');
  t.equal(sent[1], 'host: Orders', 'undici writes Host first, its name in lower case, its value unchanged');
  const endToEnd = sent.filter((l) => !/^(host|connection):/i.test(l)).slice(1);
  t.same(endToEnd, ['X-Zeta: z', 'x-MiXeD-Case: m', 'Alpha: a', 'X-Value: caf\xe9'], 'request headers in the order and case sent, latin1 bytes intact');
  const head = answer.slice(0, answer.indexOf('\r\n\r\n')).split('\r\n');
  t.equal(head[0], 'HTTP/1.1 200 OK');
  const got = head.slice(1).filter((l) => !/^(date|connection|keep-alive):/i.test(l));
  t.same(got, ['X-Zeta: 1', 'x-MiXeD-Case: two', 'Content-Length: 2', 'Alpha: 3', 'Set-Cookie: a=1', 'Set-Cookie: b=2'], 'response headers in the order and case the upstream sent');
  await until(() => records[0]?.ended === true);
  t.same(records, [{ status: 200, ended: true }]);
});

t.test('a reused connection reset before answering is resent exactly once: a second reset is the answer', async (t) => {
  // The first request ever is answered; every later one is reset, the resend on its fresh connection too.
  const upstream = await rawUpstream((_head, socket, n) => {
    if (n === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    else socket.resetAndDestroy();
  });
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  t.match(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', /\r\n\r\nok/), /^HTTP\/1.1 200/);
  const second = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', /\r\n\r\n.*\n$/s);
  t.match(second, /^HTTP\/1.1 502/);
  t.match(second, /weft-error: WEFT_ERR_APP_UNREACHABLE/i, 'the fresh connection reset before any answer: the upstream could not be reached');
  t.equal(upstream.requests(), 3, 'the request reached the upstream twice: sent, and resent once');
  t.equal(upstream.connections(), 2, 'the resend went on a new connection, and nothing more was dialled');
  await until(() => records[1]?.ended === true);
  t.same(records[1], { status: 502, ended: true, error: 'WEFT_ERR_APP_UNREACHABLE' });
});

t.test('an upstream dying mid-body breaks the client response and ends the exchange with WEFT_ERR_UPSTREAM_RESET', async (t) => {
  const upstream = await rawUpstream((_head, socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000), () => socket.resetAndDestroy());
  });
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  const outcome = await new Promise<{ status: number; bytes: number; complete: boolean }>((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete }));
    }).on('error', () => {});
  });
  t.equal(outcome.status, 200, 'the head went out before the upstream died');
  t.equal(outcome.complete, false, 'the client sees an incomplete response, never a short complete one');
  t.ok(outcome.bytes < 100000);
  await until(() => records[0]?.ended === true);
  t.same(records[0], { status: 200, ended: true, error: 'WEFT_ERR_UPSTREAM_RESET' });
});

t.test('a client leaving while the upstream thinks closes the upstream request and ends the exchange once', async (t) => {
  let upstreamSocket: net.Socket | undefined;
  let upstreamClosed = false;
  const upstream = await rawUpstream((_head, socket) => {
    upstreamSocket = socket;
    socket.on('close', () => (upstreamClosed = true));
  });
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  const client = net.connect(port, '127.0.0.1', () => client.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n'));
  client.on('error', () => {});
  await until(() => upstreamSocket !== undefined);
  client.destroy();
  await until(() => upstreamClosed);
  t.ok(upstreamClosed, 'the upstream connection carrying the abandoned request was closed');
  await until(() => records[0]?.ended === true);
  t.same(records[0], { status: 0, ended: true, error: 'client_closed' });
});

t.test('trailers of a chunked answer reach the client', async (t) => {
  const upstream = await rawUpstream((_head, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc\r\n\r\n');
  });
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  const got = await new Promise<{ body: string; trailers: http.IncomingMessage['rawTrailers'] }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ body, trailers: res.rawTrailers }));
    }).on('error', reject);
  });
  t.same(got, { body: 'ok', trailers: ['X-Checksum', 'abc'] });
});

t.test('a request with Expect: 100-continue gets its 100 from the proxy and its body to the upstream', async (t) => {
  let head: string[] = [];
  let body = '';
  const server = http.createServer((req, res) => {
    head = req.rawHeaders;
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.statusCode = 201;
      res.end('done');
    });
  });
  const upstream = { port: await listen(server), close: () => server.close() };
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/', agent: false, headers: { expect: '100-continue', 'content-length': '5' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('continue', () => req.end('hello'));
    req.on('error', reject);
  });
  t.equal(status, 201);
  t.equal(body, 'hello');
  t.notOk(head.some((h) => /^expect$/i.test(h)), 'the Expect was answered here, not sent on');
});

t.test('HEAD requests keep their upstream connection alive, as GETs do', async (t) => {
  const upstream = await rawUpstream((head, socket) => {
    socket.write(head.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n' : 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
  });
  t.teardown(upstream.close);
  const records: Record[] = [];
  const port = await proxyTo(t, upstream.port, records);
  for (const method of ['HEAD', 'HEAD', 'GET']) {
    const status = await new Promise<number>((resolve, reject) => {
      http.request({ host: '127.0.0.1', port, method, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject).end();
    });
    t.equal(status, 200, method);
  }
  t.equal(upstream.requests(), 3);
  t.equal(upstream.connections(), 1, 'one upstream connection served both HEADs and the GET');
});
