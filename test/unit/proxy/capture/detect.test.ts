import t from 'tap';
import net from 'node:net';
import { classifyPrefix, detectProtocol, replay, H2_PREFACE, DETECT_MAX_BYTES } from '../../../../proxy/capture/detect.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

t.test('HTTP/1 needs a whole request line with a known method', async (t) => {
  t.equal(classifyPrefix(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 'http1');
  t.equal(classifyPrefix(b('POST /orders?id=1 HTTP/1.0\r\n')), 'http1');
  t.equal(classifyPrefix(b('PROPFIND /dav HTTP/1.1\n')), 'http1', 'a bare LF ends the line too');
  t.equal(classifyPrefix(b('GET http://orders/x HTTP/1.1\r\n')), 'http1', 'absolute form');
  for (const partial of ['G', 'GE', 'GET', 'GET ', 'GET /', 'GET / HTTP/1.', 'DELE', 'OPTIONS * HTTP/1.1']) {
    t.equal(classifyPrefix(b(partial)), undefined, `${JSON.stringify(partial)} needs more bytes`);
  }
});

t.test('line protocols and binary protocols are opaque as soon as that is certain', async (t) => {
  t.equal(classifyPrefix(b('PING hello\n')), 'opaque');
  t.equal(classifyPrefix(b('GET key\n')), 'opaque', 'a GET without HTTP/1.x is a line protocol');
  t.equal(classifyPrefix(b('GET / HTTP/2.0\r\n')), 'opaque');
  t.equal(classifyPrefix(b('get / HTTP/1.1\r\n')), 'opaque', 'methods are case-sensitive');
  t.equal(classifyPrefix(b('HELLO')), 'opaque', 'not a prefix of any method');
  t.equal(classifyPrefix(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'opaque', 'a TLS ClientHello');
  t.equal(classifyPrefix(Buffer.from([0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f])), 'opaque', 'a PostgreSQL SSLRequest');
  t.equal(classifyPrefix(b('*1\r\n$4\r\nPING\r\n')), 'opaque', 'Redis RESP');
  t.equal(classifyPrefix(b('FOO / HTTP/1.1\r\n')), 'opaque', 'unknown method');
});

t.test('h2c prior knowledge needs the whole preface', async (t) => {
  t.equal(classifyPrefix(H2_PREFACE), 'h2');
  t.equal(classifyPrefix(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])])), 'h2');
  t.equal(classifyPrefix(H2_PREFACE.subarray(0, 10)), undefined);
  t.equal(classifyPrefix(b('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')), 'opaque');
  t.equal(classifyPrefix(b('PRIX')), 'opaque');
});

t.test('nothing yet means undecided; an endless request line goes to the HTTP parser', async (t) => {
  t.equal(classifyPrefix(Buffer.alloc(0)), undefined);
  t.equal(classifyPrefix(b(`GET /${'a'.repeat(DETECT_MAX_BYTES)}`)), 'http1');
});

async function pair(): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const server = await accepted;
  return { client, server, close: () => { client.destroy(); server.destroy(); srv.close(); } };
}

t.test('detectProtocol on sockets: decides, times out, sees an early end, and replays', async (t) => {
  {
    const { client, server, close } = await pair();
    client.write('GET / HT');
    setTimeout(() => client.write('TP/1.1\r\nHost: a\r\n\r\n'), 20);
    const d = await detectProtocol(server, 2000);
    t.same({ protocol: d.protocol, timedOut: d.timedOut, ended: d.ended }, { protocol: 'http1', timedOut: false, ended: false });
    replay(server, d);
    const first = await new Promise<Buffer>((r) => { server.once('data', r); server.resume(); });
    t.match(first.toString(), /^GET \/ HTTP\/1\.1\r\n/, 'the handler reads from the first byte');
    close();
  }
  {
    const { server, close } = await pair();
    const started = Date.now();
    const d = await detectProtocol(server, 100);
    t.same({ protocol: d.protocol, timedOut: d.timedOut, head: d.head.length }, { protocol: 'opaque', timedOut: true, head: 0 });
    t.ok(Date.now() - started >= 90, 'waited for the timeout (server speaks first)');
    close();
  }
  {
    const { client, server, close } = await pair();
    client.end('GE');
    const d = await detectProtocol(server, 2000);
    t.same({ protocol: d.protocol, ended: d.ended, head: d.head.toString() }, { protocol: 'opaque', ended: true, head: 'GE' });
    close();
  }
});
