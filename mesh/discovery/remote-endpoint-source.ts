// Kubernetes mode's endpoint source in the proxy: asks `weft destination` over one HTTP/2
// connection with mutual TLS (the pod's own mesh leaf; the server must present the destination's
// identity), so the proxy needs no Kubernetes API credentials. Each watched service port is one
// stream of newline-delimited JSON snapshots; a name that is not a service is remembered for a
// TTL (the negative cache) and its stream closed, so made-up Hosts hold nothing open. While the
// destination is unreachable, streams reopen with backoff and the last snapshots keep serving.
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { isIP } from 'node:net';
import { Counter, Gauge, type Registry } from '../../lib/metrics-client.js';
import { serviceKey, type AddressInfo, type AddressOwner, type EndpointSource, type ServiceRef, type ServiceSnapshot } from './endpoint-source.js';
import { expectIdentity } from '../mesh-tls.js';
import { backoffDelayMs, type BackoffPolicy } from '../../lib/backoff.js';
import { readDestinationLines } from '../destination-stream.js';
import { realTimers, type TimerHandle, type Timers } from '../../lib/timers.js';
import type { Logger } from '../../lib/logger.js';
import type { IdentityProvider } from '../identity/identity-provider.js';
import { readSnapshotLine } from './remote-wire.js';

/** Options of the remote source. */
export interface RemoteEndpointSourceOptions {
  /** host:port of `weft destination`. */
  readonly address: string;
  /** The identity its certificate must carry. */
  readonly serverIdentity: string;
  /** The pod's own certificate (client side of the mutual TLS). */
  readonly identity: IdentityProvider;
  readonly log: Logger;
  readonly registry: Registry;
  /** How long "no such service" is believed before asking again. */
  readonly negativeTtlMs: number;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

interface Upstream {
  readonly ref: ServiceRef;
  readonly listeners: Set<(s: ServiceSnapshot) => void>;
  last: ServiceSnapshot | undefined;
  stream: ClientHttp2Stream | undefined;
  timer: TimerHandle | undefined;
  failures: number;
}

const RETRY: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };
/**
 * A connection whose peer vanished without a FIN (a node lost) would leave every stream silent and
 * every snapshot stale: a PING unanswered within the interval ends the session, so streams reopen.
 */
const PING_INTERVAL_MS = 15_000;

/** EndpointSource over `weft destination`. */
export class RemoteEndpointSource implements EndpointSource {
  readonly #o: RemoteEndpointSourceOptions;
  readonly #clock: Timers;
  readonly #upstreams = new Map<string, Upstream>();
  /** serviceKey -> when "no such service" stops being believed. */
  readonly #negative = new Map<string, number>();
  /** "address:port" -> a resolve answer and when it expires. */
  readonly #resolved = new Map<string, { info: AddressInfo; until: number }>();
  readonly #watched: Gauge;
  readonly #negativeHits: Counter;
  readonly #reconnects: Counter;
  #session: ClientHttp2Session | undefined;
  #synced = false;
  #closed = false;

  constructor(opts: RemoteEndpointSourceOptions) {
    this.#o = opts;
    this.#clock = opts.timers ?? realTimers;
    this.#watched = new Gauge({ name: 'weft_discovery_watched_services', help: 'Service ports with an open subscription to weft destination', registers: [opts.registry] });
    this.#negativeHits = new Counter({
      name: 'weft_discovery_negative_cache_hits_total',
      help: 'Subscriptions answered "no such service" from the negative cache, without asking weft destination',
      registers: [opts.registry],
    });
    this.#reconnects = new Counter({ name: 'weft_discovery_destination_failures_total', help: 'Streams to weft destination that failed or broke and were retried', registers: [opts.registry] });
  }

  /** True once weft destination answered (so /ready waits for discovery). */
  get synced(): boolean {
    return this.#synced;
  }

  /** Asks /v1/ready until weft destination answers 200, retrying with backoff. */
  async start(): Promise<void> {
    // The destination wants a client certificate: wait for the first one rather than fail on it.
    if (!this.#o.identity.current()) await new Promise<void>((resolve) => this.#o.identity.onChange(() => resolve()));
    for (let attempt = 0; !this.#closed && !this.#synced; attempt++) {
      try {
        const { status } = await this.#get('/v1/ready');
        if (status === 200) {
          this.#synced = true;
          this.#o.log.info({ destination: this.#o.address }, 'weft destination reachable; discovery ready');
          return;
        }
        throw new Error(`weft destination answered ${status} (not synced yet)`);
      } catch (err) {
        const delay = backoffDelayMs(attempt, this.#o.backoff ?? RETRY, this.#o.random ?? Math.random);
        this.#o.log.warn({ err: (err as Error).message, retryInMs: delay, destination: this.#o.address }, 'weft destination not reachable yet');
        await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, delay).unref());
      }
    }
  }

  watch(ref: ServiceRef, onUpdate: (snapshot: ServiceSnapshot) => void): () => void {
    const key = serviceKey(ref);
    let up = this.#upstreams.get(key);
    if (!up) {
      up = { ref, listeners: new Set(), last: undefined, stream: undefined, timer: undefined, failures: 0 };
      this.#upstreams.set(key, up);
      const until = this.#negative.get(key);
      if (until !== undefined && until > this.#clock.now()) {
        this.#negativeHits.inc();
        up.last = { ref, endpoints: undefined };
        this.#schedule(up, until - this.#clock.now());
      } else {
        this.#negative.delete(key);
        this.#open(up);
      }
    }
    up.listeners.add(onUpdate);
    if (up.last) onUpdate(up.last);
    const held = up;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      held.listeners.delete(onUpdate);
      if (held.listeners.size === 0 && this.#upstreams.get(key) === held) this.#drop(key, held);
    };
  }

  /** A cached answer about a pod IP (resolveAddress fills the cache): its owner when it is a mesh pod. */
  endpointAt(address: string, port: number): AddressOwner | undefined {
    const hit = this.#resolved.get(`${address}:${port}`);
    if (!hit || hit.until <= this.#clock.now()) {
      this.resolveAddress(address, port).catch(() => undefined);
      return undefined;
    }
    return hit.info.kind === 'pod' && hit.info.owner.meshed !== false ? hit.info.owner : undefined;
  }

  async resolveAddress(address: string, port: number): Promise<AddressInfo> {
    const cacheKey = `${address}:${port}`;
    const hit = this.#resolved.get(cacheKey);
    if (hit && hit.until > this.#clock.now()) return hit.info;
    if (!isIP(address)) return { kind: 'unknown' };
    try {
      const { status, body } = await this.#get(`/v1/resolve?address=${encodeURIComponent(address)}&port=${port}`);
      if (status !== 200) throw new Error(`weft destination answered ${status}: ${body}`);
      const info = JSON.parse(body) as AddressInfo;
      this.#resolved.set(cacheKey, { info, until: this.#clock.now() + this.#o.negativeTtlMs });
      // Bounded like the negative cache: the oldest answer goes first.
      if (this.#resolved.size > 4096) this.#resolved.delete(this.#resolved.keys().next().value ?? '');
      return info;
    } catch (err) {
      this.#o.log.warn({ address, port, err: (err as Error).message }, 'cannot ask weft destination about an address; treating it as unknown');
      return { kind: 'unknown' };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [key, up] of this.#upstreams) this.#drop(key, up);
    const session = this.#session;
    this.#session = undefined;
    if (session && !session.closed) await new Promise<void>((resolve) => session.close(() => resolve()));
  }

  #drop(key: string, up: Upstream): void {
    this.#upstreams.delete(key);
    if (up.timer) this.#clock.clearTimeout(up.timer);
    up.timer = undefined;
    this.#closeStream(up);
  }

  #closeStream(up: Upstream): void {
    const stream = up.stream;
    up.stream = undefined;
    if (stream) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      this.#watched.dec();
    }
  }

  #schedule(up: Upstream, delayMs: number): void {
    if (up.timer) this.#clock.clearTimeout(up.timer);
    up.timer = this.#clock.setTimeout(() => {
      up.timer = undefined;
      if (this.#upstreams.get(serviceKey(up.ref)) === up && !this.#closed) this.#open(up);
    }, delayMs);
    up.timer.unref();
  }

  #open(up: Upstream): void {
    if (this.#closed || up.stream) return;
    const key = serviceKey(up.ref);
    let stream: ClientHttp2Stream;
    try {
      const q = new URLSearchParams({ namespace: up.ref.namespace, name: up.ref.name, port: String(up.ref.port) });
      stream = this.#connect().request({ ':method': 'GET', ':path': `/v1/watch/endpoints?${q.toString()}` });
    } catch (err) {
      this.#retry(up, err as Error);
      return;
    }
    up.stream = stream;
    this.#watched.inc();
    readDestinationLines(
      stream,
      (line) => {
        if (up.stream !== stream) return false;
        const snap = readSnapshotLine(line, up.ref);
        if (!snap) {
          this.#o.log.warn({ service: key, line: line.slice(0, 200) }, 'weft destination sent a line that is not a snapshot; ignored');
          return true;
        }
        up.failures = 0;
        this.#deliver(up, snap);
        return up.stream === stream;
      },
      (reason) => {
        if (up.stream !== stream) return; // closed by us
        up.stream = undefined;
        this.#watched.dec();
        this.#retry(up, new Error(reason));
      },
    );
  }

  #deliver(up: Upstream, snap: ServiceSnapshot): void {
    up.last = snap;
    if (snap.endpoints === undefined) {
      // Not a service: believe it for the TTL, hold no stream, ask again after it.
      const key = serviceKey(up.ref);
      this.#negative.set(key, this.#clock.now() + this.#o.negativeTtlMs);
      if (this.#negative.size > 10_000) this.#negative.delete(this.#negative.keys().next().value ?? '');
      this.#closeStream(up);
      this.#schedule(up, this.#o.negativeTtlMs);
    }
    for (const listener of [...up.listeners]) listener(snap);
  }

  #retry(up: Upstream, err: Error): void {
    if (this.#closed || this.#upstreams.get(serviceKey(up.ref)) !== up) return;
    this.#reconnects.inc();
    const delay = backoffDelayMs(up.failures, this.#o.backoff ?? RETRY, this.#o.random ?? Math.random);
    up.failures += 1;
    this.#o.log.warn({ service: serviceKey(up.ref), err: err.message, retryInMs: delay }, 'subscription to weft destination failed; the last snapshot keeps serving');
    this.#schedule(up, delay);
  }

  /** The one HTTP/2 session, opened with the pod's current certificate. */
  #connect(): ClientHttp2Session {
    const live = this.#session;
    if (live && !live.closed && !live.destroyed) return live;
    const material = this.#o.identity.current();
    if (!material) throw new Error('no certificate yet to present to weft destination');
    const [host = '', port = ''] = splitHostPort(this.#o.address);
    const session = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      key: material.keyPem,
      cert: material.certChainPem,
      ca: material.trustBundlePem,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
      checkServerIdentity: expectIdentity(this.#o.serverIdentity),
      ...(isIP(host) ? {} : { servername: host }),
    });
    session.on('error', (err: Error) => this.#o.log.warn({ err: err.message, destination: this.#o.address }, 'connection to weft destination failed'));
    let pinger: TimerHandle | undefined;
    const ping = (): void => {
      pinger = this.#clock.setTimeout(() => {
        const deadline = this.#clock.setTimeout(() => session.destroy(new Error('weft destination did not answer a PING')), PING_INTERVAL_MS);
        deadline.unref();
        const sent = session.ping((err) => {
          this.#clock.clearTimeout(deadline);
          if (err) session.destroy(err);
          else if (!session.destroyed) ping();
        });
        if (!sent) {
          this.#clock.clearTimeout(deadline);
          ping();
        }
      }, PING_INTERVAL_MS);
      pinger.unref();
    };
    session.once('connect', ping);
    session.on('close', () => {
      this.#clock.clearTimeout(pinger);
      if (this.#session === session) this.#session = undefined;
    });
    // A session with no stream must not keep the process alive.
    session.unref();
    this.#session = session;
    return session;
  }

  /**
   * Opens a GET stream on the one mutual-TLS session to weft destination, for other watch kinds
   * (the remote policy source): one connection and one certificate per proxy. Throws when there is
   * no certificate yet.
   */
  openStream(path: string): ClientHttp2Stream {
    return this.#connect().request({ ':method': 'GET', ':path': path });
  }

  /** One request/answer exchange on the session. */
  async #get(path: string): Promise<{ status: number; body: string }> {
    const session = this.#connect();
    return new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': path });
      let status = 0;
      let body = '';
      req.setEncoding('utf8');
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: string) => (body += c));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.on('close', () => (status === 0 ? reject(new Error('weft destination closed the request')) : undefined));
      req.end();
    });
  }
}

/** "host:port" or "[v6]:port" -> [host, port]. */
function splitHostPort(address: string): [string, string] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  return m ? [m[1] ?? '', m[2] ?? ''] : [address, '8086'];
}
