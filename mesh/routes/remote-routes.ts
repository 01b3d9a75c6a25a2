// Kubernetes mode's mesh routes in the proxy: one stream `GET /v1/watch/routes` from `weft
// destination` on discovery's mutual-TLS session (the pod's own certificate, no second
// connection), each line the whole list of routes this pod's namespace sees, compiled into
// `current`. While the destination is unreachable the stream reopens with backoff and the routes in
// force stay.
import type { BackoffPolicy } from '../../lib/backoff.js';
import type { Timers } from '../../lib/timers.js';
import { DestinationSubscription, type OpenDestinationStream } from '../destination-stream.js';
import type { Logger } from '../../lib/logger.js';
import type { IdentityProvider } from '../identity/identity-provider.js';
import { compileKubeRoutes, type KubeRoute } from './kube-mesh-routes.js';
import { CompiledRoutes } from './route-decision.js';

/** Options of the remote routes source. */
export interface RemoteRoutesOptions {
  /** Opens a stream on the session to weft destination (RemoteEndpointSource.openStream). */
  readonly open: OpenDestinationStream;
  /** The pod's certificate: the stream opens once there is one. */
  readonly identity: IdentityProvider;
  /** The pod's namespace: consumer routes there apply to it. */
  readonly namespace: string;
  readonly log: Logger;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

/** The mesh routes in force, replaced whole on every list the destination sends. */
export class RemoteRoutes {
  readonly #o: RemoteRoutesOptions;
  readonly #subscription: DestinationSubscription;
  /** The compiled routes (empty until the first list). */
  current: CompiledRoutes = new CompiledRoutes(new Map());

  constructor(opts: RemoteRoutesOptions) {
    this.#o = opts;
    this.#subscription = new DestinationSubscription({
      open: () => opts.open('/v1/watch/routes'),
      onLine: (line) => this.apply(line),
      onFailure: (reason, retryInMs) => opts.log.warn({ err: reason, retryInMs }, 'mesh routes stream failed; the routes in force stay'),
      ...(opts.timers ? { timers: opts.timers } : {}),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });
  }

  /** Opens the stream once the pod holds a certificate (not awaited by the caller's readiness). */
  start(): void {
    if (this.#o.identity.current()) this.#subscription.start();
    else this.#o.identity.onChange(() => this.#subscription.start());
  }

  close(): void {
    this.#subscription.close();
  }

  /** Applies one line of the stream (true); a line that is not a routes list is ignored with a warning (false). */
  apply(line: string): boolean {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const routes = typeof value === 'object' && value !== null ? (value as { routes?: unknown }).routes : undefined;
    if (!Array.isArray(routes)) {
      this.#o.log.warn({ line: line.slice(0, 200) }, 'weft destination sent a line that is not a routes list; ignored');
      return false;
    }
    this.current = compileKubeRoutes(routes as KubeRoute[], this.#o.namespace, (route, err) =>
      this.#o.log.warn({ code: 'WEFT_ERR_ROUTES_FILE', route, err: err.message }, 'mesh route refused; the other routes apply'),
    );
    this.#o.log.info({ routes: routes.length }, 'mesh routes loaded from weft destination');
    return true;
  }
}
