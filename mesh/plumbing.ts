// Where a meshed process gets its endpoints and its certificate, by mode: the local files, or the
// API server and `weft ca`. Shared by `weft proxy` and `weft gateway` (one program, two modes),
// so both read the same settings the same way.
import type { Registry } from 'prom-client';
import { LocalEndpointSource } from './discovery/local-endpoint-source.js';
import { KubeEndpointSource } from './discovery/kube-endpoint-source.js';
import { RemoteEndpointSource } from './discovery/remote-endpoint-source.js';
import { CaClientIdentityProvider } from './identity/ca-client.js';
import { kubeConnectionFromEnv } from '../lib/kube/config.js';
import { KubeClient } from '../lib/kube/client.js';
import { WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { EndpointSource } from './discovery/endpoint-source.js';
import type { IdentityProvider } from './identity/identity-provider.js';
import type { MeshModeSettings } from './mode-settings.js';

export type { MeshModeSettings } from './mode-settings.js';

/** An endpoint source and an identity provider, plus the API client when there is one. */
export interface MeshPlumbing {
  readonly source: EndpointSource;
  readonly identity: IdentityProvider;
  /** The API client when the process watches the API server itself (no WEFT_DESTINATION_ADDR). */
  readonly kubeClient: KubeClient | undefined;
}

/** Builds the endpoint source and identity provider of the configured mode. */
export async function buildMeshPlumbing(
  settings: MeshModeSettings,
  deps: { readonly env: Readonly<Record<string, string | undefined>>; readonly log: Logger; readonly registry: Registry; readonly shutdown: AbortSignal },
): Promise<MeshPlumbing> {
  const { log, registry } = deps;
  if (settings.local) {
    const local = new LocalEndpointSource(settings.local.endpointsFile, log);
    await local.start();
    // Loaded here only: it builds certificates with @peculiar/x509, which kubernetes mode never needs.
    const { LocalIdentityProvider } = await import('./identity/local-identity.js');
    const identity = new LocalIdentityProvider({ caDir: settings.local.caDir, identity: settings.identity, lifetimeHours: settings.certLifetimeHours, log });
    return { source: local, identity, kubeClient: undefined };
  }
  if (settings.kubernetes) {
    const k = settings.kubernetes;
    const identity = new CaClientIdentityProvider({
      caAddr: settings.kubernetes.caAddr,
      trustAnchors: settings.kubernetes.trustAnchors,
      trustAnchorsFile: settings.kubernetes.trustAnchorsFile,
      tokenFile: settings.kubernetes.tokenFile,
      expectedIdentity: settings.identity,
      log,
      registry,
    });
    // A SIGTERM while still waiting for the first certificate ends the wait (and the start).
    deps.shutdown.addEventListener('abort', () => identity.close(), { once: true });
    // With a destination service the process holds no API credentials at all (docs/destination.md).
    const kubeClient = k.destinationAddr === '' ? new KubeClient(await kubeConnectionFromEnv(deps.env)) : undefined;
    const source = kubeClient
      ? new KubeEndpointSource({
          client: kubeClient, trustDomain: settings.trustDomain, log, registry, namespace: settings.namespace,
          ...(k.kubeRetryMaxMs === undefined ? {} : { backoff: { initialMs: 200, maxMs: k.kubeRetryMaxMs, minFraction: 0.5 } }),
        })
      : new RemoteEndpointSource({ address: k.destinationAddr, serverIdentity: k.destinationIdentity, identity, log, registry, negativeTtlMs: k.negativeTtlMs });
    // Not awaited: /ready says "endpoints not loaded" until discovery has answered.
    source.start().catch((err: unknown) => log.error({ err: (err as Error).message }, 'discovery failed to start'));
    return { source, identity, kubeClient };
  }
  throw new WeftError('WEFT_ERR_CONFIG', `WEFT_MODE=${settings.mode} has no settings`);
}
