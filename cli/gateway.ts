// `weft gateway`: the edge gateway (the sidecar program in gateway mode). Parses its
// environment, builds the endpoint source and identity of its mode, runs until SIGTERM, drains.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseGatewayConfig } from '../sidecar/gateway/gateway-config.js';
import { startGateway } from '../sidecar/gateway/gateway.js';
import { LocalEndpointSource } from '../sidecar/discovery/local-endpoint-source.js';
import { LocalIdentityProvider } from '../sidecar/identity/local-identity.js';
import { KubeEndpointSource } from '../sidecar/discovery/kube-endpoint-source.js';
import { CaClientIdentityProvider } from '../sidecar/identity/ca-client.js';
import { kubeConnectionFromEnv } from '../lib/kube/config.js';
import { KubeClient } from '../lib/kube/client.js';
import { createLogger } from '../lib/logger.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import type { Command } from './command.js';
import type { EndpointSource } from '../sidecar/discovery/endpoint-source.js';
import type { IdentityProvider } from '../sidecar/identity/identity-provider.js';

/** The `weft gateway` subcommand. */
export const gatewayCommand: Command = {
  summary: 'run the edge gateway (Gateway API / Ingress routes, API policies, mTLS into the mesh)',
  async run(ctx) {
    let config;
    try {
      config = parseGatewayConfig(ctx.env);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft gateway: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const log = createLogger({ level: config.logLevel, name: 'weft-gateway' });
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    let source: EndpointSource;
    let identity: IdentityProvider;
    let kubeClient: KubeClient | undefined;
    if (config.local) {
      const local = new LocalEndpointSource(config.local.endpointsFile, log);
      await local.start();
      source = local;
      identity = new LocalIdentityProvider({ caDir: config.local.caDir, identity: config.identity, lifetimeHours: config.certLifetimeHours, log });
    } else if (config.kubernetes) {
      kubeClient = new KubeClient(await kubeConnectionFromEnv(ctx.env));
      const kube = new KubeEndpointSource({ client: kubeClient, trustDomain: config.trustDomain, log, registry, namespace: config.namespace });
      // Not awaited: /ready says "endpoints not loaded" until the API server has answered.
      void kube.start();
      source = kube;
      const caClient = new CaClientIdentityProvider({
        caAddr: config.kubernetes.caAddr,
        trustAnchorsFile: config.kubernetes.trustAnchorsFile,
        tokenFile: config.kubernetes.tokenFile,
        expectedIdentity: config.identity,
        log,
        registry,
      });
      // A SIGTERM while still waiting for the first certificate ends the wait (and the start).
      ctx.shutdown.addEventListener('abort', () => caClient.close(), { once: true });
      identity = caClient;
    } else {
      throw new WeftError('WEFT_ERR_CONFIG', `WEFT_MODE=${config.mode} has no settings`);
    }
    let gateway;
    try {
      gateway = await startGateway(config, { log, registry, source, identity, ...(kubeClient ? { kubeClient } : {}) });
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft gateway: ${err.code}: ${err.message}\n`);
      await source.close();
      kubeClient?.close();
      return 2;
    }
    if (!ctx.shutdown.aborted) await new Promise<void>((resolve) => ctx.shutdown.addEventListener('abort', () => resolve(), { once: true }));
    const clean = await gateway.shutdown();
    kubeClient?.close();
    log.info({ clean }, 'gateway stopped');
    return 0;
  },
};
