// Composes `weft ca`: its settings, where its root and issuer come from (mounted files, or its
// Secret through the API), the serving certificate, the HTTPS API, and reloads when the mounted
// material changes.
import type { CaConfig } from './config.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Registry } from 'prom-client';
import type { KubeClient } from '../lib/kube/client.js';
import { loadOrCreateSecretMaterial, readMountedMaterial, type CaMaterial } from './material.js';
import { ownerMetadata } from './ownership.js';
import { issueServingMaterial } from './serving.js';
import { startCaServer, type CaServer } from './server.js';
import { KubeTokenReviewer, type TokenReviewer } from './token-review.js';
import { backoffDelayMs } from '../lib/backoff.js';
import { realTimers, sleep, type TimerHandle, type Timers } from '../lib/timers.js';
import { WatchedFile } from '../lib/watched-file.js';
import { ReadinessWatch, nextValidityChangeMs, validityProblem } from '../lib/pki/validity.js';
import type { Readiness } from '../lib/admin-server.js';
import { GeneratedTrust } from './generated-trust.js';
import { Counter } from 'prom-client';
import { join } from 'node:path';

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
  /** Clock and timers of the retries, the material reload and the serving renewal (fake in tests). */
  readonly timers?: Timers;
  /** Uniform [0, 1) source of the retry jitter. */
  readonly random?: () => number;
}

/** How long the serving certificate lives, and how often it is renewed (twice a lifetime). */
const SERVING_LIFETIME_HOURS = 24;
const SERVING_RENEW_MS = 12 * 3_600_000;
/** Retries while the API server cannot be reached at start. */
const START_RETRY = { initialMs: 500, maxMs: 10_000 } as const;

/** A running `weft ca`. */
export interface CaService {
  readonly server: CaServer;
  readonly material: () => CaMaterial;
  /** Not ready while the issuer is expired or not yet valid (it then signs nothing). */
  readiness(): Readiness;
  close(): Promise<void>;
}

/** Loads the material (retrying while the API server is unreachable), then serves. */
export async function startCaService(config: CaConfig, deps: CaServiceDeps): Promise<CaService | undefined> {
  const namespace = config.namespace ?? deps.client.connection.namespace;
  const owner = ownerMetadata(config.helmRelease === undefined ? undefined : { name: config.helmRelease.name, namespace: config.helmRelease.namespace ?? namespace });
  const log = deps.log;
  const timers = deps.timers ?? realTimers;
  // The mounted files in force, when the material came from them (compared on reload).
  let mountedRead: Awaited<ReturnType<typeof readMountedMaterial>>;
  let material: CaMaterial | undefined;
  for (let attempt = 0; !material; attempt++) {
    if (deps.shutdown.aborted) return undefined;
    try {
      const mounted = await readMountedMaterial(config.issuerDir, config.trustAnchorsFile);
      if (mounted) {
        material = await mounted.load();
        mountedRead = mounted;
      } else if (config.generate) {
        material = await loadOrCreateSecretMaterial({
          client: deps.client,
          namespace,
          secretName: config.secretName,
          configMapName: config.trustAnchorsConfigMap,
          owner,
          trustDomain: config.trustDomain,
          now: new Date(timers.now()),
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
      const delay = backoffDelayMs(attempt, START_RETRY, deps.random ?? Math.random);
      log.warn({ code: err.code, err: err.message, retryInMs: delay }, 'cannot load the CA material yet; retrying');
      await sleep(timers, delay, deps.shutdown);
    }
  }
  log.info({ source: material.source, issuerNotAfter: material.authority.issuer.cert.notAfter.toISOString() }, 'CA material loaded');

  // A specific listen address is also a name clients dial (tests, hostNetwork setups).
  const listenHost = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? [] : [config.listen.host];
  const names = config.servingNames ?? [...new Set([...defaultServingNames(namespace), ...listenHost])];
  const serve = async (m: CaMaterial) =>
    issueServingMaterial({ authority: m.authority, names, now: new Date(timers.now()), lifetimeHours: SERVING_LIFETIME_HOURS });
  let current: CaMaterial = material;
  // The issuer is judged at each /ready, each request and at the instants its validity changes.
  const issuerWatch = new ReadinessWatch({
    judge: (now) => {
      const issuer = current.authority.issuer.cert;
      return { reason: validityProblem('issuer', issuer, now), nextChangeMs: nextValidityChangeMs(issuer, now) };
    },
    timers,
    onChange: (reason, previous) => {
      const issuerNotAfter = current.authority.issuer.cert.notAfter.toISOString();
      if (reason) log.error({ code: 'WEFT_ERR_CA_ISSUER_INVALID', reason, source: current.source }, `not ready: ${reason}; signing nothing with it`);
      else if (previous) log.info({ issuerNotAfter, was: previous }, 'issuer valid; ready');
    },
  });
  issuerWatch.refresh();
  const server = await startCaServer({
    listen: config.listen,
    material: () => current,
    refusal: () => {
      const reason = issuerWatch.reason();
      return reason ? new WeftError('WEFT_ERR_CA_ISSUER_INVALID', `${reason}: weft ca signs nothing with it`) : undefined;
    },
    serving: await serve(current),
    reviewer: deps.reviewer ?? new KubeTokenReviewer(deps.client, config.audience, config.trustDomain, () => timers.now()),
    leafLifetimeHours: config.leafLifetimeHours,
    log,
    registry: deps.registry,
    maxInFlight: config.maxInFlight,
    handshake: config.handshake,
    timers,
  });
  log.info({ url: server.url, names }, 'weft ca serving');

  // Reload when the mounted Secret/ConfigMap change (the kubelet swaps them in place; polled,
  // as the files may be mounted later), and renew the 24 h serving certificate twice a day.
  type Mounted = NonNullable<typeof mountedRead>;
  let generated: GeneratedTrust | undefined;
  const mounted = new WatchedFile<Mounted>({
    paths: [join(config.issuerDir, 'tls.crt'), config.trustAnchorsFile],
    read: () => readMountedMaterial(config.issuerDir, config.trustAnchorsFile),
    same: (a, b) => a.text === b.text,
    apply: async (next) => {
      const loaded = await next.load();
      const serving = await serve(loaded);
      // An issuer mounted later takes over from the generated one.
      generated?.close();
      generated = undefined;
      current = loaded;
      server.setServing(serving);
      issuerWatch.refresh();
      log.info({ source: loaded.source, issuerNotAfter: loaded.authority.issuer.cert.notAfter.toISOString() }, 'CA material reloaded');
    },
    onError: (err) => log.error({ code: isWeftError(err) ? err.code : undefined, err: (err as Error).message }, 'mounted CA material refused; keeping the current one'),
    timers,
    debounceMs: 0,
    pollMs: config.reloadIntervalMs,
    // Polling only: the mount directories need not exist, and the poll bounds the delay anyway.
    watchDirectories: false,
  });
  mounted.start(mountedRead);
  // Generated material is kept in its Secret, which the CA re-reads and renews (a mounted issuer
  // is the user's to renew: it is only watched).
  if (!mountedRead) {
    generated = new GeneratedTrust({
      client: deps.client,
      namespace,
      secretName: config.secretName,
      configMapName: config.trustAnchorsConfigMap,
      owner,
      trustDomain: config.trustDomain,
      issuerLifetimeHours: config.issuerLifetimeHours,
      intervalMs: config.reloadIntervalMs,
      timers,
      log,
      current: () => current,
      apply: async (next) => {
        const serving = await serve(next);
        current = next;
        server.setServing(serving);
        issuerWatch.refresh();
      },
      renewals: new Counter({ name: 'weft_ca_issuer_renewals_total', help: 'Generated issuers this replica renewed (same root)', registers: [deps.registry] }),
    });
    generated.start();
  }
  let renewTimer: TimerHandle | undefined;
  const renewServing = (): void => {
    renewTimer = timers.setTimeout(() => {
      void serve(current)
        .then((s) => server.setServing(s))
        .catch((err: unknown) => log.error({ err: (err as Error).message }, 'serving certificate renewal failed'))
        .finally(() => {
          if (!closed) renewServing();
        });
    }, SERVING_RENEW_MS);
    renewTimer.unref();
  };
  let closed = false;
  renewServing();
  return {
    server,
    material: () => current,
    readiness: () => {
      const reason = issuerWatch.reason();
      return reason ? { ready: false, reasons: [reason] } : { ready: true, reasons: [] };
    },
    async close() {
      closed = true;
      mounted.close();
      generated?.close();
      issuerWatch.close();
      timers.clearTimeout(renewTimer);
      await server.close();
    },
  };
}
