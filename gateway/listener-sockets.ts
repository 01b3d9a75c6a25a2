// The gateway's sockets: the shared plain and TLS ones and one per dedicated listener
// (WEFT_GATEWAY_LISTENER_ADDRS), each handing its requests to the handler with its scope.
import http from 'node:http';
import http2 from 'node:http2';
import net, { type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import type { HostPort } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { realTimers } from '../lib/timers.js';
import { guardHandshakes, type HandshakeBounds, type HandshakeGuard } from '../lib/tls-guard.js';
import type { GatewayHandler } from './handler.js';
import { socketScopes, type DedicatedSocket, type SocketScope } from './routes/listener-scope.js';

/** What the sockets are opened with. */
export interface SocketOptions {
  readonly http: HostPort | undefined;
  readonly https: HostPort | undefined;
  readonly dedicated: readonly DedicatedSocket[];
  readonly handshake: HandshakeBounds;
  readonly handler: GatewayHandler;
  readonly registry: Registry;
  readonly log: Logger;
}

/** A listening socket and what it serves. */
export interface OpenSocket {
  /** "http", "https", or the dedicated socket's "http:8080[:ns/name]". */
  readonly name: string;
  readonly scope: SocketScope;
  readonly server: Server;
  readonly address: HostPort;
}

/** The open sockets; close() stops accepting, closeIdle()/closeAll() end plain connections. */
export interface GatewaySockets {
  readonly sockets: readonly OpenSocket[];
  close(): void;
  closeIdle(): void;
  closeAll(): void;
}

/** Opens every socket; a socket that cannot listen fails the start. */
export async function openSockets(o: SocketOptions): Promise<GatewaySockets> {
  const scopes = socketScopes(o.dedicated);
  const plain: http.Server[] = [];
  const h2Sessions = new Set<http2.ServerHttp2Session>();
  const guards: HandshakeGuard[] = [];
  const sockets: OpenSocket[] = [];
  let failures: Counter<'direction' | 'reason'> | undefined;
  const open = async (name: string, scope: SocketScope, addr: HostPort): Promise<void> => {
    let server: Server;
    if (scope.protocol === 'HTTP') {
      const h1 = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => o.handler.handle(scope, req, res));
      // WebSocket (and any HTTP/1.1 upgrade) runs the same steps, then joins the sockets.
      h1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => o.handler.handleUpgrade(scope, req, socket, head));
      plain.push(h1);
      // Cleartext HTTP/2 with prior knowledge (gRPC clients, `nghttp`) on the same port.
      const h2 = http2.createServer();
      h2.on('request', (req, res) => o.handler.handle(scope, req, res));
      h2.on('session', (session) => {
        h2Sessions.add(session);
        session.on('close', () => h2Sessions.delete(session));
      });
      server = net.createServer((socket) => sniffPlain(socket, h1, h2));
    } else {
      const s = tlsServer(o.handler, scope);
      // Handshakes are bounded in time and number; failures are counted by reason and summarized.
      failures ??= new Counter({
        name: 'weft_tls_handshake_failures_total',
        help: 'Failed TLS handshakes on the HTTPS listener, by reason (handshake_timeout, too_many_handshakes, ...)',
        labelNames: ['direction', 'reason'] as const,
        registers: [o.registry],
      });
      const counter = failures;
      guards.push(guardHandshakes(s, { ...o.handshake, listener: name, timers: realTimers, log: o.log, onFailure: (reason) => counter.inc({ direction: 'inbound', reason }) }));
      server = s;
    }
    await listen(server, addr);
    sockets.push({ name, scope, server, address: addressOf(server) });
  };
  if (o.http) await open('http', scopes.http, o.http);
  if (o.https) await open('https', scopes.https, o.https);
  for (const [i, d] of o.dedicated.entries()) {
    const scope = scopes.dedicated[i];
    if (scope) await open(`${d.protocol.toLowerCase()}:${d.port}${d.gateway ? `:${d.gateway}` : ''}`, scope, d.address);
  }
  return {
    sockets,
    close: () => {
      for (const s of sockets) s.server.close();
      for (const g of guards) g.close();
    },
    closeIdle: () => {
      for (const s of plain) s.closeIdleConnections();
      // GOAWAY: streams in flight finish, no new ones start.
      for (const session of h2Sessions) session.close();
    },
    closeAll: () => {
      for (const s of plain) s.closeAllConnections();
      for (const session of h2Sessions) session.destroy();
    },
  };
}

/** The connection preface a prior-knowledge HTTP/2 client opens with (RFC 9113 3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
// A connection that sends nothing is closed after this long (the HTTP/1.1 keep-alive bound).
const SNIFF_TIMEOUT_MS = 65_000;

/** Says which parser the first bytes of a plain connection belong to; undefined while they are a short prefix of the preface. */
export function plainProtocol(first: Buffer): 'h2' | 'http/1.1' | undefined {
  const n = Math.min(first.length, H2_PREFACE.length);
  if (!first.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return 'http/1.1';
  return first.length >= H2_PREFACE.length ? 'h2' : undefined;
}

// Reads the first bytes, puts them back, and hands the socket to the HTTP/2 or HTTP/1.1 server.
function sniffPlain(socket: Socket, h1: http.Server, h2: http2.Http2Server): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
  let got: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const protocol = plainProtocol(got);
    if (protocol === undefined) return;
    socket.off('data', onData);
    socket.pause();
    socket.setTimeout(0);
    socket.unshift(got);
    if (protocol === 'h2') {
      // The session reads what is buffered itself; resuming here would drop it.
      h2.emit('connection', socket);
    } else {
      h1.emit('connection', socket);
      socket.resume();
    }
  };
  socket.on('data', onData);
}

// TLS with the certificate chosen per connection by SNI; HTTP/2 and HTTP/1.1 by ALPN.
function tlsServer(handler: GatewayHandler, scope: SocketScope): http2.Http2SecureServer {
  const server = http2.createSecureServer({
    allowHTTP1: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    // From the state in force at the handshake.
    SNICallback: (servername, cb) => {
      const state = handler.state;
      const cert = state?.table.certificateFor(servername || undefined);
      const ctx = cert && state?.contexts.get(cert);
      if (ctx) cb(null, ctx);
      else cb(new Error(`no certificate for ${JSON.stringify(servername)}`));
    },
    // Asked of every client but only required where a listener sets frontendValidation;
    // the handler checks the chain against that listener's CA.
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on('request', (req, res) => handler.handle(scope, req, res));
  return server;
}

function addressOf(server: Server): HostPort {
  const a = server.address();
  return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: '', port: 0 };
}

function listen(server: Server, addr: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
}
