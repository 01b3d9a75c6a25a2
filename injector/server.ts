// `weft injector`'s HTTPS server: POST /mutate and /mutate/ns-enabled answer AdmissionReviews,
// plus /metrics, /ready and /live. The decisions live in admission.ts and patch.ts.
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyBaseLogger } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Server as HttpsServer } from 'node:https';
import { WeftError, isWeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { answerReview, type ReviewOutcome } from './admission.js';
import type { NamespaceInjection } from './patch.js';
import type { ServingCert } from './serving-cert.js';
import type { InjectorSettings } from './settings.js';
import { DEFAULT_HANDSHAKE_BOUNDS, guardHandshakes, type HandshakeBounds } from '../lib/tls-guard.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { SkipLogLimiter } from './skip-log.js';

/** What the server needs; everything is made by the command and passed in. */
export interface InjectorServerOptions {
  readonly host: string;
  readonly port: number;
  readonly cert: ServingCert;
  readonly settings: InjectorSettings;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Bounds of the webhook listener's TLS handshakes (defaults: WEFT_TLS_* settings' defaults). */
  readonly handshake?: HandshakeBounds;
  /** Clock of the handshake guard and of the skip log's rate limit. */
  readonly timers?: Timers;
}

/** A running injector. */
export interface InjectorServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Swaps the serving certificate; open connections keep the old one. */
  setCertificate(cert: ServingCert): void;
  /** Swaps the trust anchors written into new proxies (reviews already answered keep theirs). */
  setTrustAnchors(pem: string): void;
  close(): Promise<void>;
}

/** Largest AdmissionReview accepted: a Pod object is at most the API server's 3 MiB request. */
const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** Starts the HTTPS webhook server. */
export async function startInjectorServer(opts: InjectorServerOptions): Promise<InjectorServer> {
  const reviews = new Counter({
    name: 'weft_injector_reviews_total',
    help: 'AdmissionReviews answered, by result (injected, skipped, rejected, ignored, malformed)',
    labelNames: ['result'] as const,
    registers: [opts.registry],
  });
  const duration = new Histogram({
    name: 'weft_injector_review_duration_seconds',
    help: 'Time to answer one AdmissionReview, body parsed to response built',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    registers: [opts.registry],
  });
  const patchBytes = new Histogram({
    name: 'weft_injector_patch_bytes',
    help: 'Size of the JSON patch of injected pods',
    buckets: [1024, 2048, 4096, 8192, 16384, 65536],
    registers: [opts.registry],
  });
  let settings = opts.settings;
  const timers = opts.timers ?? realTimers;
  const skips = new SkipLogLimiter();
  for (const r of ['injected', 'skipped', 'rejected', 'ignored', 'malformed']) reviews.inc({ result: r }, 0);

  const app: FastifyInstance<HttpsServer> = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    https: { cert: opts.cert.cert, key: opts.cert.key, minVersion: 'TLSv1.2' },
    keepAliveTimeout: 60_000,
  }) as unknown as FastifyInstance<HttpsServer>;

  const handshakeFailures = new Counter({
    name: 'weft_tls_handshake_failures_total',
    help: 'Failed TLS handshakes on the webhook listener, by reason (handshake_timeout, too_many_handshakes, ...)',
    labelNames: ['direction', 'reason'] as const,
    registers: [opts.registry],
  });
  const guard = guardHandshakes(app.server, {
    ...(opts.handshake ?? DEFAULT_HANDSHAKE_BOUNDS),
    listener: 'injector',
    timers: opts.timers ?? realTimers,
    log: opts.logger,
    onFailure: (reason) => handshakeFailures.inc({ direction: 'inbound', reason }),
  });

  // JSON only, parsed here so a broken body gets a coded 400 naming the problem; other media
  // types get fastify's 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(new WeftError('WEFT_ERR_ADMISSION_REVIEW', 'malformed AdmissionReview: the body is empty'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (err) {
      done(new WeftError('WEFT_ERR_ADMISSION_REVIEW', `malformed AdmissionReview: the body is not JSON (${(err as Error).message})`), undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    if (isWeftError(err)) {
      if (err.code === 'WEFT_ERR_ADMISSION_REVIEW') reviews.inc({ result: 'malformed' });
      req.log.warn({ code: err.code, url: req.url }, err.message);
      return reply.code(err.status || 500).header('weft-error', err.code).send({ code: err.code, message: err.message });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    const status = typeof e.statusCode === 'number' && e.statusCode >= 400 ? e.statusCode : 500;
    if (req.url.startsWith('/mutate')) reviews.inc({ result: 'malformed' });
    if (status >= 500) req.log.error({ err }, 'injector request failed');
    return reply.code(status).send({ code: e.code ?? 'INTERNAL', message: e.message ?? 'internal error' });
  });

  const mutate = (namespaceInjection: NamespaceInjection) =>
    async (req: FastifyRequest): Promise<unknown> => {
      const start = process.hrtime.bigint();
      const answer = answerReview(req.body, settings, namespaceInjection);
      duration.observe(Number(process.hrtime.bigint() - start) / 1e9);
      reviews.inc({ result: answer.outcome });
      if (answer.outcome === 'injected') patchBytes.observe(answer.patchBytes);
      if (answer.skipReason !== undefined) {
        // Every skip at info with its reason, at most SKIP_LOG_LIMIT lines per reason and window.
        const d = skips.admit(answer.skipReason, timers.now());
        if (d.log) req.log.info({ uid: answer.body.response.uid, outcome: 'skipped', reason: answer.skipReason, annotated: answer.patchBytes > 0, suppressed: d.suppressed }, answer.detail);
      } else logDecision(req.log, answer.outcome, answer.body.response.uid, answer.detail);
      return answer.body;
    };
  // Two webhooks share this server: one whose namespaceSelector already matched the label, and
  // one for all other namespaces, where only the pod annotation can turn injection on.
  app.post('/mutate/ns-enabled', mutate('enabled'));
  app.post('/mutate', mutate('not-enabled'));
  app.get('/live', async () => ({ live: true }));
  app.get('/ready', async () => ({ ready: true }));
  app.get('/metrics', async (_req, reply) => reply.header('content-type', opts.registry.contentType).send(await opts.registry.metrics()));

  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  return {
    port,
    setCertificate: (cert) => app.server.setSecureContext({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' }),
    setTrustAnchors: (pem) => {
      settings = { ...settings, trustAnchors: pem };
    },
    close: async () => {
      guard.close();
      await app.close();
    },
  };
}

function logDecision(log: FastifyBaseLogger, outcome: ReviewOutcome, uid: string, detail: string): void {
  if (outcome === 'rejected') log.warn({ uid, outcome }, detail);
  else if (outcome === 'injected') log.info({ uid, outcome }, detail);
  else log.debug({ uid, outcome }, detail);
}
