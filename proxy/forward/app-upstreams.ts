// The inbound side's HTTP/1.1 upstreams: one undici pool per app port on WEFT_APP_HOST, its
// connections made from the app's own loopback address in local mode.
import net from 'node:net';
import { Pool } from 'undici';
import { connector, h1PoolOptions } from '../../mesh/h1-client.js';
import type { Http1Upstream } from './http1.js';

// Without a Keep-Alive hint from the app, an idle connection closes after 4 s (undici's default):
// below the keep-alive timeout of common servers (Node's is 5 s), so the proxy hangs up first.
const IDLE_MS = 4_000;
// An app announcing a longer timeout (`Keep-Alive: timeout=N`) is believed up to this.
const MAX_IDLE_MS = 60_000;
// node:http's app agent had no bound on connections per port; neither has this pool.
const UNBOUNDED = null;

/** The app's upstreams, one per port, made on first use. */
export class AppUpstreams {
  readonly #host: string;
  readonly #source: string | undefined;
  readonly #upstreams = new Map<number, Http1Upstream>();

  /** `source`: the local address connections to the app come from (undefined: the system's choice). */
  constructor(host: string, source: string | undefined) {
    this.#host = host;
    this.#source = source;
  }

  /** The upstream of app port `port`. */
  get(port: number): Http1Upstream {
    let upstream = this.#upstreams.get(port);
    if (!upstream) {
      const host = this.#host;
      const source = this.#source;
      const dial = (): net.Socket => net.connect(source ? { host, port, localAddress: source, noDelay: true } : { host, port, noDelay: true });
      const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      const dispatcher = new Pool(origin, h1PoolOptions(connector(dial, 'connect'), UNBOUNDED, IDLE_MS, MAX_IDLE_MS));
      upstream = { dispatcher, origin, what: `app port ${port}`, unreachable: 'WEFT_ERR_APP_UNREACHABLE' };
      this.#upstreams.set(port, upstream);
    }
    return upstream;
  }

  /** Closes every pool and its connections. */
  close(): void {
    for (const upstream of this.#upstreams.values()) upstream.dispatcher.destroy().catch(noop);
    this.#upstreams.clear();
  }
}

function noop(): void {}
