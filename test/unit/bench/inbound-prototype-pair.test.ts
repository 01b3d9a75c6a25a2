// The inbound prototype's paired connection on real sockets: mutual TLS from a raw client, a
// node:http app behind it. Pipelined requests answered in order over one app connection, chunked
// bodies both ways, HEAD/204/304 and 100-continue framed right, smuggling attempts refused with
// the connection closed and nothing reaching the app.
import t from 'tap';
import tls from 'node:tls';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeTestPki } from '../../support/pki.js';
import { PairedConnection } from '../../bench/inbound-prototype/paired-connection.js';

const pki = await makeTestPki();
const serverLeaf = await pki.leaf('spiffe://cluster.local/ns/t/sa/server');
const clientLeaf = await pki.leaf('spiffe://cluster.local/ns/t/sa/client');

// The app: answers per path; records what it saw.
const seen: { method: string; url: string; clientId: string; body: string }[] = [];
let appConnections = 0;
const app = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('latin1');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', clientId: String(req.headers['weft-client-id'] ?? ''), body });
    if (req.url === '/empty') {
      res.writeHead(204).end();
    } else if (req.url === '/cached') {
      res.writeHead(304, { etag: '"x"' }).end();
    } else if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part1;');
      setImmediate(() => res.end('part2'));
    } else {
      res.writeHead(200, { 'content-length': Buffer.byteLength(`${req.method} ${req.url} ${body}`) }).end(req.method === 'HEAD' ? undefined : `${req.method} ${req.url} ${body}`);
    }
  });
});
app.on('connection', () => appConnections++);
await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
const appPort = (app.address() as AddressInfo).port;

const server = tls.createServer({ cert: serverLeaf.certChainPem, key: serverLeaf.keyPem, ca: pki.authority.root.toString('pem'), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => {
  const san = socket.getPeerX509Certificate()?.subjectAltName ?? '';
  new PairedConnection(socket, san.replace(/^URI:/, ''), { appHost: '127.0.0.1', reservedPorts: new Set([7006]), authorize: (_peer, _port, _method, target) => target !== '/forbidden' });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as AddressInfo).port;
t.teardown(() => {
  server.close();
  app.close();
  app.closeAllConnections();
});

/** A raw client connection: write bytes, read until a predicate holds on what came back, or the end. */
async function client(): Promise<{ write: (s: string) => void; until: (done: (text: string) => boolean) => Promise<string>; ended: () => Promise<string> }> {
  const sock = tls.connect({ host: '127.0.0.1', port, cert: clientLeaf.certChainPem, key: clientLeaf.keyPem, ca: pki.authority.root.toString('pem'), checkServerIdentity: () => undefined });
  await new Promise<void>((r, j) => sock.once('secureConnect', () => r()).once('error', j));
  let text = '';
  let wake = (): void => {};
  let closed = false;
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => {
    text += d;
    wake();
  });
  sock.on('close', () => {
    closed = true;
    wake();
  });
  const until = (done: (s: string) => boolean): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (done(text)) resolve(text);
        else if (closed) reject(new Error(`closed with ${JSON.stringify(text)}`));
      };
      wake = check;
      check();
    });
  return { write: (s) => sock.write(s, 'latin1'), until, ended: () => until(() => closed) };
}

const H = `Host: app\r\nweft-dst-port: ${String(appPort)}\r\n`;

t.test('pipelined requests are answered in order over one app connection, with the verified identity', async (t) => {
  seen.length = 0;
  const before = appConnections;
  const c = await client();
  c.write(
    `GET /1 HTTP/1.1\r\n${H}weft-client-id: spiffe://forged\r\n\r\n` +
      `POST /2 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n` +
      `POST /3 HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nworld` +
      `GET /4 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  );
  const text = await c.ended();
  const bodies = [...text.matchAll(/\r\n\r\n((?:GET|POST) \/\d[^H]*)/g)].map((m) => m[1]);
  t.same(bodies, ['GET /1 ', 'POST /2 hello', 'POST /3 world', 'GET /4 '], 'four responses, in request order');
  t.same(seen.map((s) => s.clientId), Array(4).fill('spiffe://cluster.local/ns/t/sa/client'), 'the forged identity header was replaced');
  t.equal(appConnections - before, 1, 'one paired app connection carried all four');
});

t.test('HEAD, 204, 304 and a chunked response are framed right, and the connection carries on', async (t) => {
  const c = await client();
  c.write(`HEAD /h HTTP/1.1\r\n${H}\r\nGET /empty HTTP/1.1\r\n${H}\r\nGET /cached HTTP/1.1\r\n${H}\r\nGET /chunked HTTP/1.1\r\n${H}\r\nGET /last HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  const text = await c.ended();
  t.same([...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]), ['200', '200', '204', '304', '200', '200'].slice(1), 'five responses');
  t.match(text, /content-length: 8\r\n/i, 'HEAD keeps its length header and has no body');
  t.match(text, /(6\r\npart1;\r\n5\r\npart2|b\r\npart1;part2)\r\n0\r\n\r\n/, 'the chunked body passes as it came');
  t.match(text, /GET \/last $/, 'the request after them all was framed right');
});

t.test('Expect: 100-continue: the interim response passes, then the final one', async (t) => {
  const c = await client();
  c.write(`POST /e HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  await c.until((s) => s.includes('100 Continue\r\n\r\n'));
  c.write('body');
  const text = await c.ended();
  t.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*POST \/e body$/);
});

t.test('smuggling attempts are refused, the connection closed, and nothing reaches the app', async (t) => {
  for (const attack of [
    `POST /s HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
    `POST /s HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
    `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffff1\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
    `GET /s HTTP/1.1\r\n${H}X: a\r\n Transfer-Encoding: chunked\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
    `GET /s HTTP/1.1\nHost: app\nweft-dst-port: ${String(appPort)}\n\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
  ]) {
    seen.length = 0;
    const c = await client();
    c.write(attack);
    const text = await c.ended();
    const smuggledSeen = seen.some((s) => s.url === '/smuggled');
    t.notOk(smuggledSeen, `nothing smuggled: ${JSON.stringify(attack.slice(0, 60))}`);
    t.match(text, /^HTTP\/1\.1 400 /, 'refused with 400');
    t.match(text, /connection: close/);
  }
});

t.test('a refused port or peer is answered without touching the app', async (t) => {
  seen.length = 0;
  const c = await client();
  c.write(`GET /x HTTP/1.1\r\nHost: app\r\nweft-dst-port: 7006\r\n\r\n`);
  t.match(await c.ended(), /^HTTP\/1\.1 400 [\s\S]*not an app port/);
  const d = await client();
  d.write(`GET /forbidden HTTP/1.1\r\n${H}\r\n`);
  t.match(await d.ended(), /^HTTP\/1\.1 403 /);
  t.same(seen, []);
});
