// `weft gateway`: the edge gateway (the sidecar program in gateway mode). Parses its
// environment, builds the endpoint source and identity of its mode, runs until SIGTERM, drains.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseGatewayConfig } from '../sidecar/gateway/gateway-config.js';
import { startGateway } from '../sidecar/gateway/gateway.js';
import { LocalEndpointSource } from '../sidecar/discovery/local-endpoint-source.js';
import { LocalIdentityProvider } from '../sidecar/identity/local-identity.js';
import { createLogger } from '../lib/logger.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import type { Command } from './command.js';

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
    if (!config.local) throw new WeftError('WEFT_ERR_CONFIG', 'WEFT_MODE=kubernetes is not available for the gateway in this build');
    const source = new LocalEndpointSource(config.local.endpointsFile, log);
    await source.start();
    const identity = new LocalIdentityProvider({ caDir: config.local.caDir, identity: config.identity, lifetimeHours: config.certLifetimeHours, log });
    let gateway;
    try {
      gateway = await startGateway(config, { log, registry, source, identity });
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft gateway: ${err.code}: ${err.message}\n`);
      await source.close();
      return 2;
    }
    if (!ctx.shutdown.aborted) await new Promise<void>((resolve) => ctx.shutdown.addEventListener('abort', () => resolve(), { once: true }));
    const clean = await gateway.shutdown();
    log.info({ clean }, 'gateway stopped');
    return 0;
  },
};
