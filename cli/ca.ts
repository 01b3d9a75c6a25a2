// `weft ca`: the certificate authority service. Parses its environment, connects to the API
// server, serves the certificate API and the admin port until SIGTERM.
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { parseCaConfig, startCaService, type CaService } from '../ca/service.js';
import { kubeConnectionFromEnv } from '../lib/kube/config.js';
import { KubeClient } from '../lib/kube/client.js';
import { createLogger } from '../lib/logger.js';
import { isWeftError } from '../lib/errors.js';
import { startAdminServer } from '../lib/admin-server.js';
import { warnUnknownVariables } from './settings.js';
import type { Command } from './command.js';

/** The `weft ca` subcommand. */
export const caCommand: Command = {
  summary: 'run the certificate authority (POST /v1/certificates)',
  async run(ctx) {
    let config;
    try {
      config = parseCaConfig(ctx.env);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft ca: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const log = createLogger({ level: config.logLevel, name: 'weft-ca', pod: config.podName || undefined });
    warnUnknownVariables(ctx.env, log);
    const registry = new Registry();
    registerProcessMetrics(registry);
    const client = new KubeClient(await kubeConnectionFromEnv(ctx.env));
    let service: CaService | undefined;
    const admin = await startAdminServer(config.admin, {
      registry,
      readiness: () => (service ? service.readiness() : { ready: false, reasons: ['CA material not loaded yet'] }),
      debugEndpoints: () => ({}),
    });
    const addr = admin.address();
    log.info({ admin: addr && typeof addr === 'object' ? `${addr.address}:${addr.port}` : config.admin, cluster: client.connection.server }, 'weft ca starting');
    try {
      service = await startCaService(config, { log, registry, client, shutdown: ctx.shutdown });
      if (service && !ctx.shutdown.aborted) {
        await new Promise<void>((resolve) => ctx.shutdown.addEventListener('abort', () => resolve(), { once: true }));
      }
    } finally {
      await service?.close();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      client.close();
    }
    log.info('weft ca stopped');
    return 0;
  },
};
