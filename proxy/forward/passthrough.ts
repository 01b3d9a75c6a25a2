// Plain upstreams for traffic that leaves the mesh: the original destination an app dialled,
// reached in plaintext exactly as the app would have (the proxy's UID is not captured again).
// HTTP/1.1 shares one undici Agent (a keep-alive pool per destination; WebSocket upgrades one
// node:http agent); h2c gets one session per destination.
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WeftError } from '../../lib/errors.js';
import { Agent } from 'undici';
import type { AgentUpstream, Http1Upstream } from './http1.js';
import { connector, h1PoolOptions } from '../../mesh/h1-client.js';

// A connect that outlives the timeout fails as WEFT_ERR_CONNECT, as a dial to a peer sidecar does.
class TimedAgent extends http.Agent {
  readonly #connectTimeoutMs: number;

  constructor(connectTimeoutMs: number) {
    super({ keepAlive: true, maxFreeSockets: 32 });
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  override createConnection(options: net.NetConnectOpts, callback?: (err: Error | null, stream: Duplex) => void): Duplex {
    void callback;
    return connectWithin(options, this.#connectTimeoutMs);
  }
}

/** Opens a plain TCP connection that is destroyed with WEFT_ERR_CONNECT when not up within `timeoutMs`. */
export function connectWithin(options: net.NetConnectOpts, timeoutMs: number): Socket {
  const socket = net.connect(options);
  const where = 'host' in options ? `${options.host ?? ''}:${options.port}` : 'upstream';
  const timer = setTimeout(() => socket.destroy(new WeftError('WEFT_ERR_CONNECT', `${where}: no connection within ${timeoutMs} ms`)), timeoutMs);
  socket.once('connect', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return socket;
}

// Idle passthrough connections close after this: shorter than the keep-alive timeout of common
// servers (undici's own default; Node's 5 s is the shortest common one, and a close race there is
// what the one resend is for).
const IDLE_MS = 4_000;
// node:http's agent had no per-destination bound either; undici's default (unbounded) keeps that.
const PER_DESTINATION = null;

/** The plain upstreams of one proxy. */
export class PassthroughUpstreams {
  readonly #agent: TimedAgent;
  readonly #dispatcher: Agent;
  readonly #connectTimeoutMs: number;
  readonly #sessions = new Map<string, ClientHttp2Session>();

  constructor(connectTimeoutMs: number) {
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#agent = new TimedAgent(connectTimeoutMs);
    const connect = connector((opts) => connectWithin({ host: opts.hostname.replace(/^\[|\]$/g, ''), port: portOf(opts), noDelay: true }, connectTimeoutMs), 'connect');
    this.#dispatcher = new Agent(h1PoolOptions(connect, PER_DESTINATION, IDLE_MS));
  }

  /** An HTTP/1.1 upstream for `address:port`. */
  http1(address: string, port: number): Http1Upstream {
    const key = where(address, port);
    return { dispatcher: this.#dispatcher, origin: `http://${key}`, what: `passthrough ${key}`, unreachable: 'WEFT_ERR_CONNECT' };
  }

  /** The node:http upstream of a WebSocket upgrade to `address:port`. */
  upgrade(address: string, port: number): AgentUpstream {
    return { agent: this.#agent, host: address, port, what: `passthrough ${where(address, port)}`, unreachable: 'WEFT_ERR_CONNECT' };
  }

  /** An h2c (prior knowledge) session to `address:port`, shared until it closes. */
  http2(address: string, port: number): ClientHttp2Session {
    const key = where(address, port);
    const open = this.#sessions.get(key);
    if (open && !open.closed && !open.destroyed) return open;
    const session = http2.connect(`http://${key}`, {
      createConnection: () => connectWithin({ host: address, port }, this.#connectTimeoutMs),
    });
    session.on('error', () => session.destroy());
    session.once('close', () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    });
    this.#sessions.set(key, session);
    return session;
  }

  /** Closes idle connections and every h2c session. */
  close(): void {
    this.#agent.destroy();
    this.#dispatcher.destroy().catch(noop);
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }
}

function where(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function noop(): void {}

// undici's origin is a URL: the default port of its scheme (80) is left out of it.
function portOf(opts: { port: string; protocol: string }): number {
  return opts.port === '' ? (opts.protocol === 'https:' ? 443 : 80) : Number(opts.port);
}
