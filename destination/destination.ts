// Composes `weft destination`: its serving certificate from weft ca (like a proxy's), the cluster
// index (three cluster-wide watches), the policy index (two more), the watch kinds, and the
// HTTP/2 API. Start order: indexes first (so the first proxies find them warm), then the
// certificate, then the listener.
import type { Registry } from 'prom-client';
import type { KubeClient } from '../lib/kube/client.js';
import type { Logger } from '../lib/logger.js';
import type { HostPort } from '../lib/config.js';
import { CaClientIdentityProvider } from '../mesh/identity/ca-client.js';
import { ClusterIndex } from './cluster-index.js';
import { DestinationServer } from './server.js';
import { endpointsKind, type AnyWatchKind } from './watch-kinds.js';
import { PolicyIndex, policiesKind } from './policy-index.js';
import { routesKind } from './routes-kind.js';
import type { DestinationConfig } from './config.js';

export { DESTINATION_SETTINGS, DESTINATION_PORT, parseDestinationConfig, type DestinationConfig } from './config.js';

/** A running `weft destination`. */
export interface DestinationService {
  readonly index: ClusterIndex;
  /** Where the API listens (port 0 in config means "any"). */
  readonly address: HostPort | undefined;
  /** True once the index listed everything and the API listens. */
  ready(): boolean;
  close(): Promise<void>;
}

/** What the service needs from the outside. */
export interface DestinationDeps {
  readonly log: Logger;
  readonly registry: Registry;
  readonly client: KubeClient;
  readonly shutdown: AbortSignal;
}

/** Starts the index, obtains the serving certificate, then serves; resolves once listening (or undefined on shutdown first). */
export async function startDestinationService(config: DestinationConfig, deps: DestinationDeps, onIndex?: (index: ClusterIndex) => void): Promise<DestinationService | undefined> {
  const index = new ClusterIndex({ client: deps.client, trustDomain: config.trustDomain, log: deps.log, registry: deps.registry });
  index.start();
  const policyIndex = new PolicyIndex({ client: deps.client, log: deps.log, registry: deps.registry });
  policyIndex.start();
  const routes = routesKind({ client: deps.client, log: deps.log, ...index.watchCounters });
  routes.start();
  onIndex?.(index);
  const identity = new CaClientIdentityProvider({
    caAddr: config.caAddr,
    trustAnchors: config.trustAnchors,
    trustAnchorsFile: config.trustAnchorsFile,
    tokenFile: config.tokenFile,
    expectedIdentity: config.identity,
    log: deps.log,
    registry: deps.registry,
  });
  deps.shutdown.addEventListener('abort', () => identity.close(), { once: true });
  await identity.start();
  const material = identity.current();
  if (!material || deps.shutdown.aborted) {
    identity.close();
    await Promise.all([index.stop(), policyIndex.stop(), routes.stop()]);
    return undefined;
  }
  // Adding a kind: build it here and add it to this map (docs/destination.md "Adding a kind").
  const kinds = new Map<string, AnyWatchKind>([
    ['endpoints', endpointsKind(index)],
    ['policies', policiesKind(policyIndex)],
    ['routes', routes],
  ]);
  // Routes do not hold readiness: a proxy without routes behaves as before routes existed.
  const synced = (): boolean => index.synced && policyIndex.synced;
  const server = new DestinationServer(material, { kinds, resolve: (a, p) => index.resolve(a, p), ready: synced }, { log: deps.log, registry: deps.registry });
  identity.onChange((m) => server.setMaterial(m));
  const address = await server.listen(config.listen);
  deps.log.info({ listen: `${address.host}:${address.port}`, identity: material.identity }, 'destination API listening');
  return {
    index,
    address,
    ready: synced,
    async close() {
      identity.close();
      await server.close();
      await Promise.all([index.stop(), policyIndex.stop(), routes.stop()]);
    },
  };
}
