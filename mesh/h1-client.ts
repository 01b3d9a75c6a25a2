// The undici HTTP/1.1 client plumbing the peer pool and the proxy's hops share: the pool options,
// the adapter that hands undici a socket once it is ready, and the mark of a reused connection.
import type { Socket } from 'node:net';
import type { Pool, buildConnector } from 'undici';

// Errors of sockets that had already carried an answer when they failed: a reset there is the
// keep-alive race (the server closed the idle connection as it was reused), not a refusal.
const REUSED = new WeakSet<object>();

/**
 * Options of every weft undici pool: one request per connection at a time (no pipelining: a slow
 * answer never holds up the next request), idle connections closed after `idleMs` (below the
 * server's keep-alive timeout, so the client hangs up first; a server announcing a shorter one in
 * `Keep-Alive: timeout=N` is believed up to `maxIdleMs`), and no header or body timeout of
 * undici's own: a long poll or a slow stream waits as long as the client does, as with node:http;
 * the traffic policy's timeouts are weft's.
 */
export function h1PoolOptions(connect: buildConnector.connector, connections: number | null, idleMs: number, maxIdleMs = idleMs): Pool.Options {
  return { connect, connections, pipelining: 1, keepAliveTimeout: idleMs, keepAliveMaxTimeout: maxIdleMs, headersTimeout: 0, bodyTimeout: 0 };
}

/**
 * undici's `connect` over a socket made by `dial`: the callback gets the socket once `ready`
 * fired (TCP connected, or TLS secure and the peer's identity proven), or the dial's error.
 */
export function connector(dial: (opts: buildConnector.Options) => Socket, ready: 'connect' | 'secureConnect'): buildConnector.connector {
  return (opts, callback) => {
    let socket: Socket;
    try {
      socket = dial(opts);
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    const onError = (err: Error): void => {
      socket.off(ready, onReady);
      // A destroyed socket may still report a late error: nobody else listens any more.
      socket.on('error', noop);
      callback(err, null);
    };
    const onReady = (): void => {
      socket.off('error', onError);
      // Registered before undici's own listener, so the mark is set before undici fails the request.
      socket.on('error', markReused);
      callback(null, socket);
    };
    socket.once('error', onError);
    socket.once(ready, onReady);
  };
}

function markReused(this: Socket, err: Error): void {
  if (this.bytesRead > 0) REUSED.add(err);
}

/**
 * Whether a request failed on a connection that had already answered (bytes read before the
 * failure): undici's own "other side closed" carries the socket's counts; a reset is marked by
 * the connector.
 */
export function failedOnReusedConnection(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (REUSED.has(err)) return true;
  const info = (err as { socket?: { bytesRead?: unknown } }).socket;
  return typeof info?.bytesRead === 'number' && info.bytesRead > 0;
}

function noop(): void {}
