// Composes `weft ca`: its settings, where its root and issuer come from (mounted files, or its
// Secret through the API), the serving certificate, the HTTPS API, and reloads when the mounted
// material changes.
import type { CaConfig } from './config.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Registry } from 'prom-client';
import type { KubeClient } from '../lib/kube/client.js';
import { loadOrCreateSecretMaterial, readMountedMaterial, type CaMaterial } from './material.js';
import { issueServingMaterial } from './serving.js';
import { startCaServer, type CaServer } from './server.js';
import { KubeTokenReviewer, type TokenReviewer } from './token-review.js';
import { backoffDelayMs } from '../lib/kube/watch.js';

export { CA_SETTINGS, parseCaConfig, type CaConfig } from './config.js';

/** The names the serving certificate carries by default: the Service's DNS names and loopback. */
export function defaultServingNames(namespace: string): string[] {
  return ['weft-ca', `weft-ca.${namespace}`, `weft-ca.${namespace}.svc`, `weft-ca.${namespace}.svc.cluster.local`, 'localhost', '127.0.0.1'];
}

/** What the service needs from the outside. */
export interface CaServiceDeps {
  readonly log: Logger;
  readonly registry: Registry;
  readonly client: KubeClient;
  /** Replaces the TokenReview client (tests of the service without an API server). */
  readonly reviewer?: TokenReviewer;
  readonly shutdown: AbortSignal;
}

/** A running `weft ca`. */
export interface CaService {
  readonly server: CaServer;
  readonly material: () => CaMaterial;
  close(): Promise<void>;
}

/** Loads the material (retrying while the API server is unreachable), then serves. */
export async function startCaService(config: CaConfig, deps: CaServiceDeps): Promise<CaService | undefined> {
  const namespace = config.namespace ?? deps.client.connection.namespace;
  const log = deps.log;
  let mountedText: string | undefined;
  let material: CaMaterial | undefined;
  for (let attempt = 0; !material; attempt++) {
    if (deps.shutdown.aborted) return undefined;
    try {
      const mounted = await readMountedMaterial(config.issuerDir, config.trustAnchorsFile);
      if (mounted) {
        material = await mounted.load();
        mountedText = mounted.text;
      } else if (config.generate) {
        material = await loadOrCreateSecretMaterial({
          client: deps.client,
          namespace,
          secretName: config.secretName,
          configMapName: config.trustAnchorsConfigMap,
          trustDomain: config.trustDomain,
          now: new Date(),
          lifetimes: { rootHours: config.rootLifetimeHours, issuerHours: config.issuerLifetimeHours },
          onGenerated: () => log.info({ secret: `${namespace}/${config.secretName}` }, 'generated a new root and issuer'),
        });
      } else {
        throw new WeftError(
          'WEFT_ERR_CA_MATERIAL',
          `no issuer in ${config.issuerDir} (tls.crt, tls.key) and WEFT_CA_GENERATE=false: mount the issuer Secret`,
        );
      }
    } catch (err) {
      // Only an unreachable or failing API server is worth waiting for; bad material is fatal.
      if (!isWeftError(err) || (err.code !== 'WEFT_ERR_KUBE_UNREACHABLE' && err.code !== 'WEFT_ERR_KUBE_API')) throw err;
      const delay = backoffDelayMs(attempt, { initialMs: 500, maxMs: 10_000 }, Math.random);
      log.warn({ code: err.code, err: err.message, retryInMs: delay }, 'cannot load the CA material yet; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  log.info({ source: material.source, issuerNotAfter: material.authority.issuer.cert.notAfter.toISOString() }, 'CA material loaded');

  // A specific listen address is also a name clients dial (tests, hostNetwork setups).
  const listenHost = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? [] : [config.listen.host];
  const names = config.servingNames ?? [...new Set([...defaultServingNames(namespace), ...listenHost])];
  const serve = async (m: CaMaterial) =>
    issueServingMaterial({ authority: m.authority, names, now: new Date(), lifetimeHours: 24 });
  let current: CaMaterial = material;
  const server = await startCaServer({
    listen: config.listen,
    material: () => current,
    serving: await serve(current),
    reviewer: deps.reviewer ?? new KubeTokenReviewer(deps.client, config.audience, config.trustDomain),
    leafLifetimeHours: config.leafLifetimeHours,
    log,
    registry: deps.registry,
  });
  log.info({ url: server.url, names }, 'weft ca serving');

  // Reload when the mounted Secret/ConfigMap change (the kubelet swaps them in place), and
  // renew the 24 h serving certificate twice a day.
  let reloading = false;
  const reload = setInterval(() => {
    if (reloading) return;
    reloading = true;
    void (async () => {
      try {
        const mounted = await readMountedMaterial(config.issuerDir, config.trustAnchorsFile);
        if (!mounted || mounted.text === mountedText) return;
        const next = await mounted.load();
        current = next;
        mountedText = mounted.text;
        server.setServing(await serve(next));
        log.info({ source: next.source, issuerNotAfter: next.authority.issuer.cert.notAfter.toISOString() }, 'CA material reloaded');
      } catch (err) {
        log.error({ code: isWeftError(err) ? err.code : undefined, err: (err as Error).message }, 'mounted CA material refused; keeping the current one');
      } finally {
        reloading = false;
      }
    })();
  }, config.reloadIntervalMs);
  const renewServing = setInterval(() => {
    void serve(current).then((s) => server.setServing(s), (err: Error) => log.error({ err: err.message }, 'serving certificate renewal failed'));
  }, 12 * 3_600_000);
  reload.unref();
  renewServing.unref();
  return {
    server,
    material: () => current,
    async close() {
      clearInterval(reload);
      clearInterval(renewServing);
      await server.close();
    },
  };
}
