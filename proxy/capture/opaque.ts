// Opaque TCP through the mesh (docs/sidecar-config.md "Between sidecars"): the client sidecar opens
// mTLS with ALPN `weft-tcp` to the peer's inbound port and sends `WEFT-TCP <port>\n`; the server
// sidecar reads that line and pipes the rest to the app port. Both directions are plain byte pipes.
import type { ConnectionFacts } from '../connection-series.js';
import net, { type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { startExchange, type Exchange, type ExchangeRecorder } from '../exchange.js';
import type { ForwardHooks } from '../forward/http1.js';
import { classify, type FailureStage } from '../../mesh/rescue.js';

/** ALPN protocol of an opaque TCP stream between sidecars. */
export const OPAQUE_ALPN = 'weft-tcp';

// "WEFT-TCP 65535\n" is 15 bytes; anything longer without a newline is not a preamble.
const PREAMBLE_MAX_BYTES = 16;
const PREAMBLE = /^WEFT-TCP ([1-9]\d{0,4})\n$/;

/** The first line of an opaque stream. */
export function formatPreamble(port: number): Buffer {
  return Buffer.from(`WEFT-TCP ${port}\n`, 'latin1');
}

/**
 * Parses the preamble at the start of `bytes` (pure): the port and the bytes after it, undefined
 * when more bytes are needed, or a WEFT_ERR_BAD_REQUEST naming what is wrong.
 */
export function parsePreamble(bytes: Buffer): { port: number; rest: Buffer } | WeftError | undefined {
  const newline = bytes.subarray(0, PREAMBLE_MAX_BYTES).indexOf(0x0a);
  if (newline === -1) {
    if (bytes.length >= PREAMBLE_MAX_BYTES) return new WeftError('WEFT_ERR_BAD_REQUEST', 'opaque stream: no "WEFT-TCP <port>" line in the first 16 bytes');
    // Fail early on a prefix that can never become a preamble.
    const text = bytes.toString('latin1');
    if (!/^WEFT-TCP [0-9]*$/.test(text) && !'WEFT-TCP '.startsWith(text)) {
      return new WeftError('WEFT_ERR_BAD_REQUEST', `opaque stream: ${JSON.stringify(text)} does not start with "WEFT-TCP "`);
    }
    return undefined;
  }
  const line = bytes.subarray(0, newline + 1).toString('latin1');
  const m = PREAMBLE.exec(line);
  const port = Number(m?.[1]);
  if (!m || port > 65535) {
    return new WeftError('WEFT_ERR_BAD_REQUEST', `opaque stream: ${JSON.stringify(line)} is not "WEFT-TCP <port 1-65535>"`);
  }
  return { port, rest: bytes.subarray(newline + 1) };
}

/** Reads the preamble off a stream within `timeoutMs`; leaves the stream paused after it. */
export function readPreamble(stream: Duplex, timeoutMs: number): Promise<{ port: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let seen: Buffer = Buffer.alloc(0);
    const finish = (result: { port: number; rest: Buffer } | WeftError): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
      if (result instanceof WeftError) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const parsed = parsePreamble(seen);
      if (parsed !== undefined) finish(parsed);
    };
    const onEnd = (): void => finish(new WeftError('WEFT_ERR_BAD_REQUEST', 'opaque stream closed before its "WEFT-TCP <port>" line'));
    const timer = setTimeout(
      () => finish(new WeftError('WEFT_ERR_TIMEOUT', `opaque stream: no "WEFT-TCP <port>" line within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

// After one side has closed, the other gets this long to flush what it still holds and close.
const LINGER_MS = 5_000;

/**
 * Joins two streams both ways; `head` goes to `b` first (bytes already read from `a`). An end on
 * one side ends the other's writing side once its data is flushed; a close lets the other side
 * flush and close too (destroyed after LINGER_MS at the latest); an error destroys both. Calls
 * `onDone` once both are closed, with the first error if there was one.
 */
export function splice(a: Duplex, b: Duplex, head: Buffer, onDone: (error?: Error) => void): void {
  let firstError: Error | undefined;
  let closed = 0;
  let linger: NodeJS.Timeout | undefined;
  const onError = (err: Error): void => {
    firstError ??= err;
    a.destroy();
    b.destroy();
  };
  const onClose = (other: Duplex) => (): void => {
    closed += 1;
    if (closed === 2) {
      clearTimeout(linger);
      onDone(firstError);
      return;
    }
    // Destroying `other` now would drop bytes it has not written yet (a server's last reply).
    other.end();
    linger = setTimeout(() => other.destroy(), LINGER_MS);
    linger.unref();
  };
  a.on('error', onError);
  b.on('error', onError);
  a.once('close', onClose(b));
  b.once('close', onClose(a));
  if (head.length > 0) b.write(head);
  a.pipe(b);
  b.pipe(a);
  a.resume();
  b.resume();
}

/** What the inbound opaque handler needs. */
export interface OpaqueInboundDeps {
  readonly appHost: string;
  /** The proxy's own ports: a peer may never ask for them. */
  readonly reservedPorts: ReadonlySet<number>;
  readonly connectTimeoutMs: number;
  /** How long a peer has to send its preamble. */
  readonly preambleTimeoutMs: number;
  readonly recorder: ExchangeRecorder;
  readonly log: Logger;
  readonly now: () => number;
  /** The authorization step, once per connection (no method or path); a WeftError refuses it. */
  readonly authorize?: (peer: string, port: number, method: undefined, path: undefined) => WeftError | undefined;
}

/**
 * The inbound side of opaque TCP, for InboundDeps.onOpaque: reads `WEFT-TCP <port>`, connects to
 * the app on that port and pipes. One exchange (protocol tcp) is recorded per connection.
 */
export function createOpaqueInbound(deps: OpaqueInboundDeps): (socket: TLSSocket, peer: string, facts?: ConnectionFacts) => void {
  return (socket, peer, facts) => {
    const exchange = startExchange({ direction: 'inbound', protocol: 'tcp', method: '', authority: '', path: '' }, deps.now());
    exchange.peer = peer;
    // A peer's half-close (its app shut down sending) must not cut the app's answer off.
    socket.allowHalfOpen = true;
    const fail = (error: WeftError): void => {
      deps.recorder.finish(exchange, error.code);
      socket.destroy();
    };
    readPreamble(socket, deps.preambleTimeoutMs).then(
      ({ port, rest }) => {
        if (deps.reservedPorts.has(port)) {
          fail(new WeftError('WEFT_ERR_BAD_REQUEST', `opaque stream asks for ${port}, the proxy's own port`));
          return;
        }
        // The preamble is weft's framing: the byte counters count only what the peer's app sent.
        if (facts) facts.framingRead = formatPreamble(port).length;
        exchange.service = `port ${port}`;
        exchange.endpoint = `${deps.appHost}:${port}`;
        const refused = deps.authorize?.(peer, port, undefined, undefined);
        if (refused) {
          fail(refused);
          return;
        }
        const app = net.connect({ host: deps.appHost, port, allowHalfOpen: true });
        const timer = setTimeout(
          () => app.destroy(new WeftError('WEFT_ERR_APP_UNREACHABLE', `app port ${port}: no connection within ${deps.connectTimeoutMs} ms`)),
          deps.connectTimeoutMs,
        );
        const onEarlyError = (err: Error): void => {
          clearTimeout(timer);
          fail(err instanceof WeftError ? err : new WeftError('WEFT_ERR_APP_UNREACHABLE', `app port ${port}: ${err.message}`));
        };
        app.once('error', onEarlyError);
        app.once('connect', () => {
          clearTimeout(timer);
          app.off('error', onEarlyError);
          app.setNoDelay(true);
          // A tunnel has no response; "connected" is its 200 for metrics and logs.
          deps.recorder.responded(exchange, 200);
          splice(socket, app, rest, (error) => deps.recorder.finish(exchange, error ? errorCode(error, 'response', `app port ${port}`) : undefined));
        });
      },
      (err: unknown) => fail(err instanceof WeftError ? err : new WeftError('WEFT_ERR_BAD_REQUEST', String(err))),
    ).catch((err: unknown) => {
      // A bug while connecting the tunnel costs this connection, never the process.
      deps.log.error({ code: 'WEFT_ERR_INTERNAL', err: String(err) }, 'inbound tunnel failed inside weft');
      fail(classify(err, 'internal'));
    });
  };
}

/** Where an opaque outbound stream goes: a mesh endpoint (mTLS), or outside the mesh (plain). */
export type OpaqueTarget =
  | { readonly kind: 'mesh'; readonly address: string; readonly port: number; readonly identity: string; readonly service: string }
  | { readonly kind: 'passthrough'; readonly address: string; readonly port: number };

/** What the outbound opaque tunnel needs. */
export interface OpaqueOutboundDeps {
  /** Opens mTLS to an endpoint's sidecar that must prove `identity` (PeerPool.connect). */
  readonly connectPeer: (endpoint: { address: string; port: number; identity: string; ready: boolean }, alpn: string) => TLSSocket;
  readonly connectTimeoutMs: number;
  readonly now: () => number;
}

/**
 * Tunnels an app's opaque connection: to a mesh endpoint over mTLS (ALPN weft-tcp, preamble with
 * the app port), or, for a destination outside the mesh, straight there in plaintext (the proxy's
 * UID is not captured again). `head` holds the bytes read during detection; `ended` says the app
 * already closed its sending side. "Connected" is reported as the tunnel's 200, and its end (with
 * the first error) through `hooks`, which serve() owns.
 */
export function tunnelOpaque(
  app: Socket,
  head: Buffer,
  ended: boolean,
  target: OpaqueTarget,
  exchange: Exchange,
  deps: OpaqueOutboundDeps,
  hooks: ForwardHooks,
): void {
  const where = `${target.address}:${target.port}`;
  exchange.authority = where;
  exchange.endpoint = where;
  // Half-close crosses the tunnel: the app may shut down sending and still read the answer.
  app.allowHalfOpen = true;
  let upstream: Socket;
  let connectEvent: 'secureConnect' | 'connect';
  try {
    if (target.kind === 'mesh') {
      exchange.service = target.service;
      exchange.peer = target.identity;
      upstream = deps.connectPeer({ address: target.address, port: target.port, identity: target.identity, ready: true }, OPAQUE_ALPN);
      upstream.allowHalfOpen = true;
      connectEvent = 'secureConnect';
    } else {
      exchange.service = 'passthrough';
      upstream = net.connect({ host: target.address, port: target.port, allowHalfOpen: true });
      connectEvent = 'connect';
      const timer = setTimeout(
        () => upstream.destroy(new WeftError('WEFT_ERR_CONNECT', `${where}: no connection within ${deps.connectTimeoutMs} ms`)),
        deps.connectTimeoutMs,
      );
      upstream.once('connect', () => clearTimeout(timer));
      upstream.once('close', () => clearTimeout(timer));
    }
  } catch (err) {
    app.destroy();
    hooks.onEnd(classify(err, 'connect', { what: where, unreachable: 'WEFT_ERR_CONNECT' }));
    return;
  }
  const onEarlyError = (err: Error): void => {
    app.destroy();
    hooks.onEnd(classify(err, 'connect', { what: where, unreachable: 'WEFT_ERR_CONNECT' }));
  };
  upstream.once('error', onEarlyError);
  upstream.once(connectEvent, () => {
    upstream.off('error', onEarlyError);
    upstream.setNoDelay(true);
    hooks.onResponse(200);
    if (target.kind === 'mesh') upstream.write(formatPreamble(target.port));
    splice(app, upstream, head, (error) => hooks.onEnd(error ? classify(error, 'response', { what: where, unreachable: 'WEFT_ERR_CONNECT' }) : undefined));
    if (ended) upstream.end();
  });
}

// The mesh's one classifier names a tunnel's failure, as it does an HTTP exchange's.
function errorCode(err: Error, stage: FailureStage, what: string): string {
  return classify(err, stage, { what, unreachable: 'WEFT_ERR_CONNECT' }).code;
}
