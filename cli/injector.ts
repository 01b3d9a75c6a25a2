// `weft injector`: reads its settings, serving certificate and trust anchors, then runs the admission webhook
// until shutdown. The decisions live in injector/; this file only wires them to the world.
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { ConfigReader } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { readInjectorSettings } from '../injector/settings.js';
import { startInjectorServer } from '../injector/server.js';
import { readServingCert, watchServingCert } from '../injector/serving-cert.js';
import { readTrustAnchors, watchTrustAnchors } from '../injector/trust-anchors.js';
import { warnUnknownVariables } from './settings.js';
import { readInjectorServerConfig } from '../injector/config.js';
import { startAdminServer } from '../lib/admin-server.js';
import type { Command } from './command.js';

/** The `weft injector` subcommand. */
export const injectorCommand: Command = {
  summary: 'run the admission webhook that injects the sidecar into pods',
  async run(ctx) {
    const r = new ConfigReader(ctx.env);
    const { listen, admin: adminAddr, tlsDir, logLevel, podName, handshakeTimeoutMs, maxPendingHandshakes } = readInjectorServerConfig(r);
    const read = readInjectorSettings(r);
    r.done();
    const logger = createLogger({ level: logLevel, name: 'weft-injector', pod: podName || undefined });
    warnUnknownVariables(ctx.env, logger);
    const cert = await readServingCert(tlsDir);
    // Missing trust anchors do not stop the injector: it refuses every pod with a coded error
    // until the file appears (the chart mounts the ConfigMap optional; generated trust creates it
    // on weft ca's first start).
    let trustAnchors: string | undefined;
    try {
      trustAnchors = await readTrustAnchors(read.trustAnchorsFile);
    } catch (err) {
      logger.error({ code: (err as { code?: string }).code, err: (err as Error).message }, 'no trust anchors yet: every pod to inject is refused');
    }
    const settings = { ...read, trustAnchors };
    const registry = new Registry();
    registerProcessMetrics(registry);
    const server = await startInjectorServer({ host: listen.host, port: listen.port, cert, settings, logger, registry, handshake: { handshakeTimeoutMs, maxPendingHandshakes } });
    // Metrics also on plain HTTP, so Prometheus scrapes them like every other weft process's.
    const admin = await startAdminServer(adminAddr, { registry, readiness: () => ({ ready: true, reasons: [] }), debugEndpoints: () => ({}) });
    const stopWatch = watchServingCert(tlsDir, cert, (next) => server.setCertificate(next), logger);
    const stopTrustWatch = watchTrustAnchors(settings.trustAnchorsFile, trustAnchors, (pem) => server.setTrustAnchors(pem), logger);
    logger.info({ port: server.port, image: settings.image, nativeSidecars: settings.nativeSidecars }, 'injector listening');
    const adminAt = admin.address();
    ctx.stdout.write(`weft injector admin on http://${adminAddr.host}:${adminAt !== null && typeof adminAt === 'object' ? adminAt.port : adminAddr.port}\n`);
    ctx.stdout.write(`weft injector listening on https://${listen.host}:${server.port}\n`);
    await new Promise<void>((resolve) => {
      if (ctx.shutdown.aborted) resolve();
      else ctx.shutdown.addEventListener('abort', () => resolve(), { once: true });
    });
    stopWatch();
    stopTrustWatch();
    await server.close();
    await new Promise<void>((resolve) => admin.close(() => resolve()));
    logger.info('injector stopped');
    return 0;
  },
};
