// `weft proxy`: the sidecar. Parses its environment, builds the endpoint source and identity
// provider of its mode, runs until SIGTERM, drains, exits 0.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry } from '../lib/metrics-client.js';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { parseProxyConfig } from '../proxy/config.js';
import { startProxy } from '../proxy/proxy.js';
import { createAppProbeHandler, parseAppProbes } from '../proxy/app-probe.js';
import { createLogger } from '../lib/logger.js';
import { buildMeshPlumbing } from '../mesh/plumbing.js';
import { LocalEndpointSource } from '../mesh/discovery/local-endpoint-source.js';
import { LocalPolicySource } from '../mesh/authz/local-policy-source.js';
import { RemotePolicySource } from '../mesh/authz/remote-policy-source.js';
import { RemoteEndpointSource } from '../mesh/discovery/remote-endpoint-source.js';
import type { PolicySource } from '../mesh/authz/policy-source.js';
import { isWeftError } from '../lib/errors.js';
import { warnUnknownVariables } from './settings.js';
import type { Command } from './command.js';

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
    const log = createLogger({ level: config.logLevel, name: 'weft-proxy', pod: config.podName });
    warnUnknownVariables(ctx.env, log);
    const registry = new Registry();
    registerProcessMetrics(registry);
    const { source, identity } = await buildMeshPlumbing(config, { env: ctx.env, log, registry, shutdown: ctx.shutdown });
    // The kubelet's rewritten probes land here; each replays the app's original probe.
    const probeHandler = createAppProbeHandler({ probes: appProbes, appHost: config.appHost });
    const adminRoutes = new Map([['/app-probe/', (req: IncomingMessage, res: ServerResponse) => probeHandler.handle(req, res)]]);
    // Local mode: policies from the mesh file's authorization section; Kubernetes mode: from weft
    // destination, on the discovery connection (docs/policy.md). A proxy that watches the API
    // server itself has no policy source, so nothing is enforced there.
    let policies: PolicySource | undefined;
    if (source instanceof LocalEndpointSource && config.local) policies = new LocalPolicySource(source, log, config.local.endpointsFile);
    else if (source instanceof RemoteEndpointSource) policies = new RemotePolicySource({ open: (path) => source.openStream(path), log });
    if (!policies) log.warn('no authorization policy source in this mode: every authenticated peer is allowed');
    const proxy = await startProxy(config, { log, registry, source, identity, adminRoutes, ...(policies ? { policies } : {}) });
    if (ctx.shutdown.aborted) return (await proxy.shutdown()) ? 0 : 1;
    await new Promise<void>((resolve) => ctx.shutdown.addEventListener('abort', () => resolve(), { once: true }));
    const clean = await proxy.shutdown();
    log.info({ clean }, 'proxy stopped');
    return 0;
  },
};
