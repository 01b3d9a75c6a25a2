// Kubernetes mode's mesh routes in the proxy: one stream `GET /v1/watch/routes` from `weft
// destination` (mutual TLS with the pod's own certificate, as discovery), each line the whole list
// of routes this pod's namespace sees, compiled into `current`. While the destination is
// unreachable the stream reopens with backoff and the routes in force stay.
import http2, { type ClientHttp2Session } from 'node:http2';
import { isIP } from 'node:net';
import { expectIdentity } from '../mesh-tls.js';
import { backoffDelayMs, type BackoffPolicy } from '../../lib/backoff.js';
import { realTimers, type TimerHandle, type Timers } from '../../lib/timers.js';
import type { Logger } from '../../lib/logger.js';
import type { IdentityProvider } from '../identity/identity-provider.js';
import { compileKubeRoutes, type KubeRoute } from './kube-mesh-routes.js';
import { CompiledRoutes } from './route-decision.js';

/** Options of the remote routes source. */
export interface RemoteRoutesOptions {
  /** host:port of `weft destination`. */
  readonly address: string;
  /** The identity its certificate must carry. */
  readonly serverIdentity: string;
  readonly identity: IdentityProvider;
  /** The pod's namespace: consumer routes there apply to it. */
  readonly namespace: string;
  readonly log: Logger;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

const RETRY: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

/** The mesh routes in force, replaced whole on every list the destination sends. */
export class RemoteRoutes {
  readonly #o: RemoteRoutesOptions;
  readonly #clock: Timers;
  #session: ClientHttp2Session | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #closed = false;
  /** The compiled routes (empty until the first list). */
  current: CompiledRoutes = new CompiledRoutes(new Map());

  constructor(opts: RemoteRoutesOptions) {
    this.#o = opts;
    this.#clock = opts.timers ?? realTimers;
  }

  /** Opens the stream once the pod holds a certificate (not awaited by the caller's readiness). */
  start(): void {
    if (this.#o.identity.current()) this.#open();
    else this.#o.identity.onChange(() => this.#session === undefined && this.#timer === undefined && !this.#closed && this.#open());
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#session?.destroy();
    this.#session = undefined;
  }

  /** Applies one line of the stream; a line that is not a routes list is ignored with a warning. */
  apply(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const routes = typeof value === 'object' && value !== null ? (value as { routes?: unknown }).routes : undefined;
    if (!Array.isArray(routes)) {
      this.#o.log.warn({ line: line.slice(0, 200) }, 'weft destination sent a line that is not a routes list; ignored');
      return;
    }
    this.current = compileKubeRoutes(routes as KubeRoute[], this.#o.namespace, (route, err) =>
      this.#o.log.warn({ code: 'WEFT_ERR_ROUTES_FILE', route, err: err.message }, 'mesh route refused; the other routes apply'),
    );
    this.#o.log.info({ routes: routes.length }, 'mesh routes loaded from weft destination');
  }

  #open(): void {
    const material = this.#o.identity.current();
    if (this.#closed || !material) return;
    const [host, port] = splitHostPort(this.#o.address);
    const session = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      key: material.keyPem,
      cert: material.certChainPem,
      ca: material.trustBundlePem,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
      checkServerIdentity: expectIdentity(this.#o.serverIdentity),
      ...(isIP(host) ? {} : { servername: host }),
    });
    this.#session = session;
    session.on('error', () => undefined);
    const stream = session.request({ ':method': 'GET', ':path': '/v1/watch/routes' });
    let status = 0;
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      if (status !== 200) return;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.#failures = 0;
        this.apply(line);
      }
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      session.destroy();
      if (this.#session !== session || this.#closed) return;
      this.#session = undefined;
      const delay = backoffDelayMs(this.#failures++, this.#o.backoff ?? RETRY, this.#o.random ?? Math.random);
      const why = status === 200 || status === 0 ? 'stream to weft destination ended' : `weft destination answered ${status}: ${buffered.slice(0, 200)}`;
      this.#o.log.warn({ err: why, retryInMs: delay }, 'mesh routes stream failed; the routes in force stay');
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#open();
      }, delay);
      this.#timer.unref();
    });
  }
}

/** "host:port" or "[v6]:port" -> [host, port]. */
function splitHostPort(address: string): [string, string] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  return m ? [m[1] ?? '', m[2] ?? ''] : [address, '8086'];
}
