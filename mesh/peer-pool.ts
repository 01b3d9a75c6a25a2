// Connections to peer sidecars, pooled per (address, expected identity) and never shared across
// identities: a reused connection skips the handshake, so the identity check must be per pool.
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import tls, { type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { expectIdentity } from './mesh-tls.js';
import { WeftError } from '../lib/errors.js';
import type { Endpoint } from './discovery/endpoint-source.js';
import { connector, h1PoolOptions } from './h1-client.js';

/** Options of the pool. */
export interface PeerPoolOptions {
  /** Port of the peer sidecars' inbound listener (7006). */
  readonly peerPort: number;
  readonly connectTimeoutMs: number;
  /** The current client secure context (changes on renewal; new connections use the new one). */
  readonly secureContext: () => tls.SecureContext | undefined;
  /** Called for each failed handshake with a peer. */
  readonly onHandshakeFailure?: (reason: string) => void;
}

// Idle pooled HTTP/1.1 connections close after this; the inbound side keeps them 75 s, so the
// client always closes first and never writes into a connection the server is closing.
const IDLE_MS = 60_000;
// A burst of requests to one peer queues on this many connections instead of opening one TLS
// handshake per request: on a busy node a hundred simultaneous handshakes outlast the connect
// timeout, where a queue drains in milliseconds.
const MAX_CONNECTIONS_PER_PEER = 64;

/** Pools of mTLS connections to peers. */
export class PeerPool {
  readonly #opts: PeerPoolOptions;
  readonly #agents = new Map<string, http.Agent>();
  readonly #dispatchers = new Map<string, Pool>();
  readonly #sessions = new Map<string, ClientHttp2Session>();

  constructor(opts: PeerPoolOptions) {
    this.#opts = opts;
  }

  /** Opens a TLS connection to an endpoint's sidecar that is refused unless it proves `identity`. */
  connect(endpoint: Endpoint, alpn: string): TLSSocket {
    const secureContext = this.#opts.secureContext();
    if (!secureContext) throw new WeftError('WEFT_ERR_NOT_READY', 'the proxy holds no certificate yet');
    const options: tls.ConnectionOptions & { noDelay: boolean } = {
      host: endpoint.address,
      port: this.#opts.peerPort,
      secureContext,
      ALPNProtocols: [alpn],
      rejectUnauthorized: true,
      checkServerIdentity: expectIdentity(endpoint.identity),
      // The identity is checked above; SNI carries no meaning between sidecars.
      servername: '',
      noDelay: true,
    };
    const socket = tls.connect(options);
    // Small requests and responses must not wait for Nagle + delayed ACK (40 ms each).
    // tls.connect does not pass noDelay to the TCP socket it makes, so set it once connected.
    socket.once('connect', () => socket.setNoDelay(true));
    const timer = setTimeout(() => {
      socket.destroy(new WeftError('WEFT_ERR_CONNECT', `no TLS connection to ${endpoint.address}:${this.#opts.peerPort} within ${this.#opts.connectTimeoutMs} ms`));
    }, this.#opts.connectTimeoutMs);
    socket.once('secureConnect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    socket.once('error', (err: Error & { code?: string }) => {
      if (!socket.authorized && this.#opts.onHandshakeFailure) {
        this.#opts.onHandshakeFailure(err.code === 'WEFT_ERR_PEER_IDENTITY' ? 'wrong_identity' : 'handshake');
      }
    });
    return socket;
  }

  /** The keep-alive HTTP/1.1 agent for an endpoint. */
  http1(endpoint: Endpoint): http.Agent {
    const key = poolKey(endpoint);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new PeerAgent(() => this.connect(endpoint, 'http/1.1'));
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /**
   * The undici pool of HTTP/1.1 connections to an endpoint's sidecar (the proxy's requests and the
   * gateway's undici path; upgrades and the gateway's node:http path use `http1`): its
   * connections are the pool's own mTLS sockets, handed over once the peer proved the identity.
   */
  dispatcher(endpoint: Endpoint): Dispatcher {
    const key = poolKey(endpoint);
    let pool = this.#dispatchers.get(key);
    if (!pool) {
      const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
      const connect = connector(() => this.connect(endpoint, 'http/1.1'), 'secureConnect');
      pool = new Pool(`https://${host}:${this.#opts.peerPort}`, h1PoolOptions(connect, MAX_CONNECTIONS_PER_PEER, IDLE_MS));
      this.#dispatchers.set(key, pool);
    }
    return pool;
  }

  /** The shared HTTP/2 session for an endpoint, reconnecting when the last one went away. */
  http2(endpoint: Endpoint): ClientHttp2Session {
    const key = poolKey(endpoint);
    const existing = this.#sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(`https://${endpoint.address}:${this.#opts.peerPort}`, {
      createConnection: () => this.connect(endpoint, 'h2'),
    });
    session.on('error', () => this.#forget(key, session));
    session.on('goaway', () => this.#forget(key, session));
    session.on('close', () => this.#forget(key, session));
    // An idle session should not keep the process alive during shutdown.
    session.unref();
    session.setTimeout(IDLE_MS, () => session.close());
    this.#sessions.set(key, session);
    return session;
  }

  #forget(key: string, session: ClientHttp2Session): void {
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
  }

  /** Drops every pooled connection (shutdown, or to force new handshakes). */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    for (const pool of this.#dispatchers.values()) pool.destroy().catch(noop);
    this.#dispatchers.clear();
    for (const session of this.#sessions.values()) session.close();
    this.#agents.clear();
    this.#sessions.clear();
  }
}

/** An http.Agent whose sockets are mTLS connections made by the pool. */
class PeerAgent extends http.Agent {
  readonly #dial: () => Duplex;

  constructor(dial: () => Duplex) {
    super({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: MAX_CONNECTIONS_PER_PEER, maxFreeSockets: MAX_CONNECTIONS_PER_PEER, timeout: IDLE_MS, scheduling: 'lifo' });
    this.#dial = dial;
  }

  override createConnection(): Duplex {
    return this.#dial();
  }
}

function poolKey(endpoint: Endpoint): string {
  return `${endpoint.address}|${endpoint.identity}`;
}

function noop(): void {}
