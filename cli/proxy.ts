// `weft proxy`: the sidecar. Parses its environment, builds the endpoint source and identity
// provider of its mode, runs until SIGTERM, drains, exits 0.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseProxyConfig } from '../sidecar/config.js';
import { startProxy } from '../sidecar/proxy.js';
import { createAppProbeHandler, parseAppProbes } from '../sidecar/admin/app-probe.js';
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

/** The `weft proxy` subcommand. */
export const proxyCommand: Command = {
  summary: 'run the sidecar proxy',
  async run(ctx) {
    let config;
    let appProbes;
    try {
      config = parseProxyConfig(ctx.env);
      appProbes = parseAppProbes(config.appProbes);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft proxy: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const log = createLogger({ level: config.logLevel, name: 'weft-proxy' });
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    let source: EndpointSource;
    let identity: IdentityProvider;
    if (config.local) {
      const local = new LocalEndpointSource(config.local.endpointsFile, log);
      await local.start();
      source = local;
      identity = new LocalIdentityProvider({ caDir: config.local.caDir, identity: config.identity, lifetimeHours: config.certLifetimeHours, log });
    } else if (config.kubernetes) {
      const client = new KubeClient(await kubeConnectionFromEnv(ctx.env));
      const kube = new KubeEndpointSource({ client, trustDomain: config.trustDomain, log, registry, namespace: config.namespace });
      // Not awaited: /ready says "endpoints not loaded" until the API server has answered.
      void kube.start();
      source = kube;
      const caClient = new CaClientIdentityProvider({
        caAddr: config.kubernetes.caAddr,
        trustAnchors: config.kubernetes.trustAnchors,
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
    // The kubelet's rewritten probes land here; each replays the app's original probe.
    const probeHandler = createAppProbeHandler({ probes: appProbes, appHost: config.appHost });
    const adminRoutes = new Map([['/app-probe/', probeHandler.handle]]);
    const proxy = await startProxy(config, { log, registry, source, identity, adminRoutes });
    if (ctx.shutdown.aborted) return (await proxy.shutdown()) ? 0 : 1;
    await new Promise<void>((resolve) => ctx.shutdown.addEventListener('abort', () => resolve(), { once: true }));
    const clean = await proxy.shutdown();
    log.info({ clean }, 'proxy stopped');
    return 0;
  },
};
