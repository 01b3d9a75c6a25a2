// An "unmodified app" for tests: HTTP/1.1 and h2c on one port, WebSocket echo, and endpoints for
// bodies and slowness. It answers with its pod name and the caller identity its sidecar set.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { WebSocketServer } from 'ws';

/** A running echo app. */
export interface EchoApp {
  readonly server: net.Server;
  /** Requests served, by path (first segment), for assertions. */
  readonly hits: string[];
  close(): Promise<void>;
}

const H2_PREFACE = 'PRI * HTTP/2.0';

/** Starts the echo app on `address:port`. */
export async function startEchoApp(opts: { pod: string; address: string; port: number }): Promise<EchoApp> {
  const hits: string[] = [];
  const handle = (req: IncomingMessage | http2.Http2ServerRequest, res: ServerResponse | http2.Http2ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.push(url.pathname);
    const reply = (status: number, body: object): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const who = { pod: opts.pod, caller: req.headers['weft-client-id'] ?? null, protocol: req.httpVersion, path: url.pathname, method: req.method, remote: req.socket?.remoteAddress ?? null };
    if (url.pathname === '/upload') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => reply(200, { ...who, bytes }));
      return;
    }
    if (url.pathname === '/download') {
      const total = Number(url.searchParams.get('bytes') ?? '0');
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const piece = total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent);
          sent += piece.length;
          if (!(res as ServerResponse).write(piece)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? '1000');
      setTimeout(() => reply(200, { ...who, sleptMs: ms }), ms);
      return;
    }
    if (url.pathname === '/status') {
      reply(Number(url.searchParams.get('code') ?? '200'), who);
      return;
    }
    req.resume();
    req.on('end', () => reply(200, who));
  };
  const h1 = http.createServer(handle);
  const wss = new WebSocketServer({ noServer: true });
  h1.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${opts.pod}:${messageText(data)}`, { binary: isBinary }));
    });
  });
  const h2 = http2.createServer(handle);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (chunk) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk.toString('latin1', 0, H2_PREFACE.length).startsWith(H2_PREFACE.slice(0, Math.min(chunk.length, H2_PREFACE.length)))) {
        h2.emit('connection', socket);
      } else {
        h1.emit('connection', socket);
        socket.resume();
      }
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address, () => resolve());
  });
  return {
    server,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const client of wss.clients) client.terminate();
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** A WebSocket text message as a string, whichever of ws's shapes it arrived in. */
function messageText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString();
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString();
  return data.toString();
}
