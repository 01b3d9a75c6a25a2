// `weft destination`: the discovery service of Kubernetes mode. Parses its environment, connects
// to the API server with its own service account, serves discovery to the proxies over mutual TLS
// and the admin port until SIGTERM.
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { parseDestinationConfig, startDestinationService, type DestinationService } from '../destination/destination.js';
import type { ClusterIndex } from '../destination/cluster-index.js';
import { kubeConnectionFromEnv } from '../lib/kube/config.js';
import { KubeClient } from '../lib/kube/client.js';
import { createLogger } from '../lib/logger.js';
import { isWeftError } from '../lib/errors.js';
import { startAdminServer } from '../lib/admin-server.js';
import { warnUnknownVariables } from './settings.js';
import type { Command } from './command.js';

/** The `weft destination` subcommand. */
export const destinationCommand: Command = {
  summary: 'run the discovery service proxies ask for endpoints and addresses (Kubernetes mode)',
  async run(ctx) {
    let config;
    try {
      config = parseDestinationConfig(ctx.env);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft destination: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const log = createLogger({ level: config.logLevel, name: 'weft-destination', pod: config.podName || undefined });
    warnUnknownVariables(ctx.env, log);
    const registry = new Registry();
    registerProcessMetrics(registry);
    const client = new KubeClient(await kubeConnectionFromEnv(ctx.env));
    let index: ClusterIndex | undefined;
    let service: DestinationService | undefined;
    const admin = await startAdminServer(config.admin, {
      registry,
      readiness: () => {
        const reasons: string[] = [];
        if (!index?.synced) reasons.push('cluster not listed yet');
        if (!service) reasons.push('no serving certificate yet');
        return { ready: reasons.length === 0, reasons };
      },
      debugEndpoints: () => (index ? { objects: index.counts() } : {}),
    });
    const addr = admin.address();
    log.info({ admin: addr && typeof addr === 'object' ? `${addr.address}:${addr.port}` : config.admin, cluster: client.connection.server }, 'weft destination starting');
    try {
      service = await startDestinationService(config, { log, registry, client, shutdown: ctx.shutdown }, (i) => (index = i));
      if (service && !ctx.shutdown.aborted) {
        await new Promise<void>((resolve) => ctx.shutdown.addEventListener('abort', () => resolve(), { once: true }));
      }
    } finally {
      await service?.close();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      client.close();
    }
    log.info('weft destination stopped');
    return 0;
  },
};
