// The rescue table: how each failure is classified, and what every code answers with (status,
// gRPC status, body, weft-error) through each writer: HTTP/1.1, HTTP/2 (gRPC and not), the raw
// upgrade socket and the gateway's compatibility-API responses.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { ERROR_CODES, WeftError, type ErrorCode } from '../../../lib/errors.js';
import { classify, rescueHttp1, rescueHttp2, rescueResponse, rescueUpgrade, synthesize, upgradeRefusal, type FailureStage } from '../../../mesh/rescue.js';

const PEER = { what: 'endpoint 10.0.0.5:8080 (pod-a)', unreachable: 'WEFT_ERR_CONNECT' as const };
const APP = { what: 'app port 8080', unreachable: 'WEFT_ERR_APP_UNREACHABLE' as const };
const sysError = (code: string, message = `connect ${code}`): Error => Object.assign(new Error(message), { code });

t.test('classify: every kind of failure gets the code linkerd2-proxy would give it', async (t) => {
  const cases: [string, unknown, FailureStage, typeof PEER | typeof APP | undefined, ErrorCode][] = [
    ['a WeftError keeps its code', new WeftError('WEFT_ERR_PEER_IDENTITY', 'x'), 'connect', PEER, 'WEFT_ERR_PEER_IDENTITY'],
    ['a TLS alert is a TLS failure', sysError('ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'ssl3 alert certificate unknown'), 'connect', PEER, 'WEFT_ERR_PEER_TLS'],
    ['an expired peer certificate is a TLS failure', sysError('CERT_HAS_EXPIRED', 'certificate has expired'), 'request', PEER, 'WEFT_ERR_PEER_TLS'],
    ['a self-signed peer is a TLS failure', sysError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'connect', PEER, 'WEFT_ERR_PEER_TLS'],
    ['a reset during the handshake is a TLS failure', sysError('ECONNRESET'), 'tls', PEER, 'WEFT_ERR_PEER_TLS'],
    ['ETIMEDOUT dialling is a timeout (504)', sysError('ETIMEDOUT'), 'connect', PEER, 'WEFT_ERR_TIMEOUT'],
    ['ETIMEDOUT mid-request is a timeout (504)', sysError('ETIMEDOUT'), 'request', APP, 'WEFT_ERR_TIMEOUT'],
    ['ENETUNREACH is a connect failure', sysError('ENETUNREACH'), 'connect', PEER, 'WEFT_ERR_CONNECT'],
    ['EHOSTUNREACH is a connect failure', sysError('EHOSTUNREACH'), 'connect', PEER, 'WEFT_ERR_CONNECT'],
    ['ECONNREFUSED is a connect failure', sysError('ECONNREFUSED'), 'connect', PEER, 'WEFT_ERR_CONNECT'],
    ['ECONNREFUSED by the local app says so', sysError('ECONNREFUSED'), 'connect', APP, 'WEFT_ERR_APP_UNREACHABLE'],
    ['a reset of a fresh connection is a connect failure', sysError('ECONNRESET', 'socket hang up'), 'connect', PEER, 'WEFT_ERR_CONNECT'],
    ['a reset of a reused connection is an upstream reset', sysError('ECONNRESET', 'socket hang up'), 'request', PEER, 'WEFT_ERR_UPSTREAM_RESET'],
    ['an HTTP/2 stream reset is an upstream reset', new Error('stream reset with code 2'), 'request', PEER, 'WEFT_ERR_UPSTREAM_RESET'],
    ['a premature close while streaming is an upstream reset', sysError('ERR_STREAM_PREMATURE_CLOSE', 'Premature close'), 'response', PEER, 'WEFT_ERR_UPSTREAM_RESET'],
    ['a TypeError is weft\'s own bug', new TypeError("Cannot read properties of undefined (reading 'address')"), 'request', PEER, 'WEFT_ERR_INTERNAL'],
    ['Node refusing an API call is weft\'s own bug', sysError('ERR_HTTP2_INVALID_HEADER_VALUE', 'Invalid value "x" for header "y"'), 'response', PEER, 'WEFT_ERR_INTERNAL'],
    ['anything thrown between steps is weft\'s own bug', new Error('boom'), 'internal', undefined, 'WEFT_ERR_INTERNAL'],
    ['a thrown string is weft\'s own bug', 'boom', 'internal', undefined, 'WEFT_ERR_INTERNAL'],
    ['a coded WeftError thrown between steps keeps its code', new WeftError('WEFT_ERR_NOT_READY', 'x'), 'internal', undefined, 'WEFT_ERR_NOT_READY'],
  ];
  for (const [name, err, stage, upstream, code] of cases) t.equal(classify(err, stage, upstream).code, code, name);
  t.match(classify(sysError('ENETUNREACH'), 'connect', PEER).message, /cannot reach endpoint 10\.0\.0\.5:8080 \(pod-a\): ENETUNREACH/);
  const tls = classify(sysError('CERT_HAS_EXPIRED', 'certificate has expired'), 'connect', PEER);
  t.equal(tls.status, 502);
  t.equal(classify(sysError('ETIMEDOUT'), 'connect', PEER).status, 504);
  t.equal(classify(new TypeError('x'), 'internal').status, 500);
});

// The expected answer of each status, written out independently of the code under test.
const GRPC: Record<number, number> = { 400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 500: 13, 502: 14, 503: 14, 504: 4 };
const REASON: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 413: 'Payload Too Large', 421: 'Misdirected Request', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 508: 'Loop Detected' };
const REQUEST_CODES = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c].status > 0);
const expected = (code: ErrorCode): { status: number; grpc: number; body: string } => {
  const status = ERROR_CODES[code].status;
  return { status, grpc: GRPC[status] ?? 2, body: `${code}: failed as ${code}\n` };
};
const errorOf = (code: ErrorCode): WeftError => new WeftError(code, `failed as ${code}`);

t.test('synthesize: one answer per code, including WEFT_ERR_INTERNAL, TLS and timeouts', async (t) => {
  t.ok(REQUEST_CODES.includes('WEFT_ERR_INTERNAL'));
  for (const code of REQUEST_CODES) {
    const e = expected(code);
    t.same(synthesize(errorOf(code)), { status: e.status, code, grpcStatus: e.grpc, message: e.body.trimEnd(), body: e.body }, code);
  }
  t.match(synthesize(errorOf('WEFT_ERR_INTERNAL')), { status: 500, grpcStatus: 13 });
  t.match(synthesize(errorOf('WEFT_ERR_PEER_TLS')), { status: 502, grpcStatus: 14 });
  t.match(synthesize(errorOf('WEFT_ERR_TIMEOUT')), { status: 504, grpcStatus: 4 });
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

function get(port: number, code: string): Promise<{ status: number; reason: string; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/${code}` }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers: res.headers, body }));
    }).on('error', reject);
  });
}

function h2get(session: http2.ClientHttp2Session, code: string, grpc: boolean): Promise<{ headers: http2.IncomingHttpHeaders; body: string; endedWithHeaders: boolean }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': `/${code}`, ...(grpc ? { 'content-type': 'application/grpc+proto' } : {}) }, { endStream: true });
    let headers: http2.IncomingHttpHeaders = {};
    let endedWithHeaders = false;
    let body = '';
    req.on('response', (h, flags) => {
      headers = h;
      endedWithHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => resolve({ headers, body, endedWithHeaders }));
    req.on('error', reject);
  });
}

t.test('the HTTP/1.1 writer answers every code with its status, weft-error and body', async (t) => {
  const server = http.createServer((req, res) => rescueHttp1(res, errorOf((req.url ?? '').slice(1) as ErrorCode)));
  const port = await listen(server);
  t.teardown(() => server.close());
  for (const code of REQUEST_CODES) {
    const e = expected(code);
    const res = await get(port, code);
    t.same([res.status, res.headers['weft-error'], res.body], [e.status, code, e.body], code);
  }
});

t.test('the gateway writer answers every code the same way, keeping its extra headers', async (t) => {
  const server = http.createServer((req, res) => rescueResponse(res, errorOf((req.url ?? '').slice(1) as ErrorCode), { 'retry-after': '3' }));
  const port = await listen(server);
  t.teardown(() => server.close());
  for (const code of REQUEST_CODES) {
    const e = expected(code);
    const res = await get(port, code);
    t.same([res.status, res.headers['weft-error'], res.body, res.headers['retry-after']], [e.status, code, e.body, '3'], code);
  }
});

t.test('the HTTP/2 writers: gRPC requests get trailers-only grpc-status, others a plain answer', async (t) => {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const code = String(headers[':path']).slice(1) as ErrorCode;
    if (code.startsWith('gw/')) return; // answered by the compatibility API below
    rescueHttp2(stream, errorOf(code), headers);
  });
  const port = await listen(server);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => {
    session.close();
    server.close();
  });
  for (const code of REQUEST_CODES) {
    const e = expected(code);
    const plain = await h2get(session, code, false);
    t.same([plain.headers[':status'], plain.headers['weft-error'], plain.body, plain.headers['grpc-status']], [e.status, code, e.body, undefined], `${code} (h2)`);
    const grpc = await h2get(session, code, true);
    t.same(
      [grpc.headers[':status'], grpc.headers['grpc-status'], decodeURIComponent(String(grpc.headers['grpc-message'])), grpc.headers['weft-error'], grpc.body, grpc.endedWithHeaders],
      [200, String(e.grpc), e.body.trimEnd(), code, '', true],
      `${code} (gRPC)`,
    );
  }
});

t.test('the gateway writer over HTTP/2 is gRPC-aware too', async (t) => {
  const server = http2.createServer((req, res) => rescueResponse(res, errorOf(req.url.slice(1) as ErrorCode)));
  const port = await listen(server);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => {
    session.close();
    server.close();
  });
  for (const code of ['WEFT_ERR_INTERNAL', 'WEFT_ERR_NO_ENDPOINTS', 'WEFT_ERR_TIMEOUT', 'WEFT_ERR_UNAUTHORIZED'] as const) {
    const e = expected(code);
    const grpc = await h2get(session, code, true);
    t.same([grpc.headers[':status'], grpc.headers['grpc-status'], grpc.headers['weft-error'], grpc.endedWithHeaders], [200, String(e.grpc), code, true], `${code} (gRPC)`);
    const plain = await h2get(session, code, false);
    t.same([plain.headers[':status'], plain.body], [e.status, e.body], `${code} (h2)`);
  }
});

t.test('the upgrade writer sends a correct status line for every code (503 is Service Unavailable)', async (t) => {
  for (const code of REQUEST_CODES) {
    const e = expected(code);
    const text = upgradeRefusal(errorOf(code));
    const [head, body] = text.split('\r\n\r\n');
    t.equal(head?.split('\r\n')[0], `HTTP/1.1 ${e.status} ${REASON[e.status]}`, code);
    t.match(head, `weft-error: ${code}`);
    t.match(head, 'connection: close');
    t.equal(body, e.body);
    t.match(head, `content-length: ${Buffer.byteLength(e.body)}`);
  }
  // And on a real socket, read by Node's own HTTP client.
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => rescueUpgrade(socket, errorOf('WEFT_ERR_NO_ENDPOINTS')));
  const port = await listen(server);
  t.teardown(() => server.close());
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, headers: { connection: 'upgrade', upgrade: 'websocket' } });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
  t.same([res.statusCode, res.statusMessage, res.headers['weft-error']], [503, 'Service Unavailable', 'WEFT_ERR_NO_ENDPOINTS']);
  res.resume();
});
