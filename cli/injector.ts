// `weft injector`: reads its settings, serving certificate and trust anchors, then runs the admission webhook
// until shutdown. The decisions live in injector/; this file only wires them to the world.
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../lib/process-metrics.js';
import { ConfigReader } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { readInjectorSettings } from '../injector/settings.js';
import { startInjectorServer, type InjectorServer } from '../injector/server.js';
import { readServingCert, watchServingCert, type ServingCert } from '../injector/serving-cert.js';
import { WebhookCertManager } from '../injector/webhook-cert.js';
import { serviceDnsNames } from '../injector/webhook-cert-settings.js';
import { kubeConnectionFromEnv } from '../lib/kube/config.js';
import { KubeClient } from '../lib/kube/client.js';
import { realTimers } from '../lib/timers.js';
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
    const server_ = readInjectorServerConfig(r);
    const { listen, admin: adminAddr, tlsDir, logLevel, podName, handshakeTimeoutMs, maxPendingHandshakes } = server_;
    const read = readInjectorSettings(r);
    r.done();
    const logger = createLogger({ level: logLevel, name: 'weft-injector', pod: podName || undefined });
    warnUnknownVariables(ctx.env, logger);
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
    // With mounted files a missing or broken pair stops it at start, with its code.
    let cert: ServingCert | undefined = server_.tlsProvider === 'files' ? await readServingCert(tlsDir) : undefined;
    // Not ready until a certificate is served: with provider self it may wait on the API server.
    let server: InjectorServer | undefined;
    const admin = await startAdminServer(adminAddr, {
      registry,
      readiness: () => (server ? { ready: true, reasons: [] } : { ready: false, reasons: ['no webhook serving certificate yet'] }),
      debugEndpoints: () => ({}),
    });
    const adminAt = admin.address();
    ctx.stdout.write(`weft injector admin on http://${adminAddr.host}:${adminAt !== null && typeof adminAt === 'object' ? adminAt.port : adminAddr.port}\n`);
    let stopWatch = (): void => undefined;
    let kube: KubeClient | undefined;
    let selfCert: WebhookCertManager | undefined;
    if (server_.tlsProvider === 'self') {
      kube = new KubeClient(await kubeConnectionFromEnv(ctx.env));
      const namespace = kube.connection.namespace;
      selfCert = new WebhookCertManager({
        kube, namespace, secretName: server_.tlsSecret, webhookName: server_.webhookName, names: serviceDnsNames(server_.serviceName, namespace),
        lifetimeHours: server_.selfLifetimeSeconds / 3600, resyncMs: server_.selfResyncSeconds * 1000, timers: realTimers, logger,
        // The first before the server exists; each renewal swaps the server's context in place.
        onCert: (next) => {
          if (cert === undefined) cert = next;
          else server?.setCertificate(next);
        },
      });
      await selfCert.startRetrying(ctx.shutdown);
    }
    if (cert !== undefined) {
      server = await startInjectorServer({ host: listen.host, port: listen.port, cert, settings, logger, registry, handshake: { handshakeTimeoutMs, maxPendingHandshakes } });
      if (selfCert === undefined) {
        const live = server;
        stopWatch = watchServingCert(tlsDir, cert, (next) => live.setCertificate(next), logger);
      }
    }
    const stopTrustWatch = watchTrustAnchors(settings.trustAnchorsFile, trustAnchors, (pem) => server?.setTrustAnchors(pem), logger);
    logger.info({ port: server?.port, image: settings.image, nativeSidecars: settings.nativeSidecars, tlsProvider: server_.tlsProvider }, 'injector listening');
    if (server) ctx.stdout.write(`weft injector listening on https://${listen.host}:${server.port}\n`);
    await new Promise<void>((resolve) => {
      if (ctx.shutdown.aborted) resolve();
      else ctx.shutdown.addEventListener('abort', () => resolve(), { once: true });
    });
    stopWatch();
    stopTrustWatch();
    selfCert?.close();
    await server?.close();
    kube?.close();
    await new Promise<void>((resolve) => admin.close(() => resolve()));
    logger.info('injector stopped');
    return 0;
  },
};
