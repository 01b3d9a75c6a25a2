// `weft gateway`: the edge gateway (the sidecar program in gateway mode). Parses its
// environment, builds the endpoint source and identity of its mode, runs until SIGTERM, drains.
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { parseGatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/gateway.js';
import { createLogger } from '../lib/logger.js';
import { buildMeshPlumbing } from '../mesh/plumbing.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import { warnUnknownVariables } from './settings.js';
import type { Command } from './command.js';
import { runGatewayStatus } from './gateway-status.js';

/** The `weft gateway` subcommand. */
export const gatewayCommand: Command = {
  summary: 'run the edge gateway (Gateway API / Ingress routes, API policies, mTLS into the mesh)',
  async run(ctx) {
    if (ctx.argv[0] === 'status') return runGatewayStatus(ctx, ctx.argv.slice(1));
    // The server itself reads only the environment; `status` is its one subcommand.
    if (ctx.argv.length > 0) throw new WeftError('WEFT_ERR_USAGE', `unexpected argument ${JSON.stringify(ctx.argv[0])}: weft gateway reads its settings from the environment (weft help gateway lists them); weft gateway status prints a running gateway's route status`);
    let config;
    try {
      config = parseGatewayConfig(ctx.env);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft gateway: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const log = createLogger({ level: config.logLevel, name: 'weft-gateway', pod: config.podName || undefined });
    warnUnknownVariables(ctx.env, log);
    const registry = new Registry();
    registerProcessMetrics(registry);
    const { source, identity, kubeClient } = await buildMeshPlumbing(config, { env: ctx.env, log, registry, shutdown: ctx.shutdown });
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
