// The `weft ca` HTTPS API: POST /v1/certificates takes {"csr": "<PEM>"} with the pod's projected
// service-account token as bearer, proves the identity with a TokenReview, and signs a leaf for
// that identity whatever the CSR asks for. One table maps every failure to a status and code.
import type { Server } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { issueLeaf, parseCsr } from '../lib/pki/authority.js';
import type { CaMaterial } from './material.js';
import type { ServingMaterial } from './serving.js';
import { retryAfterSecondsOf, type TokenReviewer } from './token-review.js';
import { ERROR_CODES, WeftError, isWeftError, type ErrorCode } from '../lib/errors.js';
import type { HostPort } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { DEFAULT_HANDSHAKE_BOUNDS, guardHandshakes, type HandshakeBounds } from '../lib/tls-guard.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { DEFAULT_MAX_IN_FLIGHT, SigningGate } from './shedding.js';

/** The answer to a successful certificate request. */
export interface CertificateResponse {
  /** The leaf, PEM. */
  readonly certificate: string;
  /** The issuer (and any intermediates), PEM: what a server sends after its leaf. */
  readonly chain: string;
  /** Trust anchors, PEM. */
  readonly trustBundle: string;
  /** The identity signed (the leaf's URI SAN). */
  readonly identity: string;
  /** RFC 3339 expiry of the leaf. */
  readonly notAfter: string;
}

/** What the CA server needs. */
export interface CaServerOptions {
  readonly listen: HostPort;
  /** The material to sign with right now (swapped on reload). */
  readonly material: () => CaMaterial;
  readonly serving: ServingMaterial;
  readonly reviewer: TokenReviewer;
  /** Leaf lifetime in hours (fractions allowed: tests shorten it to seconds). */
  readonly leafLifetimeHours: number;
  readonly log: Logger;
  readonly registry: Registry;
  readonly now?: () => Date;
  /** Why nothing may be signed right now (an expired issuer), or undefined. */
  readonly refusal?: () => WeftError | undefined;
  /** Certificate requests handled at once; beyond it 429 with Retry-After (WEFT_CA_MAX_IN_FLIGHT). */
  readonly maxInFlight?: number;
  /** Handshake bounds of the HTTPS listener (WEFT_TLS_HANDSHAKE_TIMEOUT_MS, WEFT_TLS_MAX_PENDING_HANDSHAKES). */
  readonly handshake?: HandshakeBounds;
  /** Clock of the handshake guard. */
  readonly timers?: Timers;
}

/** A running CA server. */
export interface CaServer {
  /** https://host:port actually bound. */
  readonly url: string;
  readonly port: number;
  /** Presents a new serving certificate to new connections. */
  setServing(serving: ServingMaterial): void;
  close(): Promise<void>;
}

/** The body of every error answer (also carried in the `weft-error` header). */
export interface ErrorBody {
  readonly error: ErrorCode;
  readonly message: string;
}

/** The request body limit: a P-256 CSR is well under 1 KiB. */
export const BODY_LIMIT_BYTES = 16 * 1024;

/** Maps any failure to the status and code it is answered with (the one rescue table). */
export function errorReply(err: unknown): { status: number; body: ErrorBody } {
  if (isWeftError(err)) {
    return { status: err.status === 0 ? 500 : err.status, body: { error: err.code, message: err.message } };
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  // fastify's own refusals: bad JSON, wrong media type, body too large.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: 'WEFT_ERR_BAD_REQUEST', message: e.message ?? 'bad request' } };
  }
  // A bug of weft's own, not a fault of the CA's material nor of the client.
  return { status: 500, body: { error: 'WEFT_ERR_INTERNAL', message: `internal error: ${e.message ?? String(err)}` } };
}

/** Metric label for a refusal. */
function refusalReason(code: ErrorCode): string {
  return code.replace(/^WEFT_ERR_/, '').toLowerCase();
}

/** Starts the HTTPS API. */
export async function startCaServer(opts: CaServerOptions): Promise<CaServer> {
  const now = opts.now ?? (() => new Date());
  const issued = new Counter({ name: 'weft_ca_certificates_issued_total', help: 'Certificates issued', registers: [opts.registry] });
  const refused = new Counter({
    name: 'weft_ca_certificates_refused_total',
    help: 'Certificate requests refused, by reason',
    labelNames: ['reason'] as const,
    registers: [opts.registry],
  });
  // Pre-create the common reasons so dashboards see zeros.
  for (const code of ['WEFT_ERR_UNAUTHENTICATED', 'WEFT_ERR_CSR_MALFORMED', 'WEFT_ERR_KUBE_UNREACHABLE'] as const) refused.inc({ reason: refusalReason(code) }, 0);
  new Gauge({
    name: 'weft_ca_issuer_expiry_timestamp_seconds',
    help: 'When the issuer certificate expires (Unix seconds)',
    registers: [opts.registry],
    collect() {
      this.set(opts.material().authority.issuer.cert.notAfter.getTime() / 1000);
    },
  });
  const duration = new Histogram({
    name: 'weft_ca_issue_duration_seconds',
    help: 'Time to answer a certificate request, TokenReview included',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [opts.registry],
  });

  const app: FastifyInstance<Server> = Fastify({
    https: { key: opts.serving.keyPem, cert: opts.serving.certChainPem },
    // fastify logs every request at info; weft logs each decision itself, so fastify gets warn.
    loggerInstance: opts.log.child({ component: 'http' }, { level: 'warn' }),
    bodyLimit: BODY_LIMIT_BYTES,
  }) as unknown as FastifyInstance<Server>;

  const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
    const { status, body } = errorReply(err);
    refused.inc({ reason: refusalReason(body.error) });
    const retryAfter = retryAfterSecondsOf(err);
    // A wait the API server asked for is passed on, so the sidecars back off as long as it wants.
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    if (status >= 500 && retryAfter === undefined) opts.log.error({ code: body.error, err: body.message }, 'certificate request failed');
    // The client's mistake: worth a line, not an alarm.
    else if (status === 400) opts.log.info({ code: body.error, err: body.message }, 'certificate request refused');
    return reply.code(status).header('weft-error', body.error).send(body);
  };

  const timers = opts.timers ?? realTimers;
  const gate = new SigningGate(opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  new Gauge({
    name: 'weft_ca_requests_in_flight',
    help: 'Certificate requests being handled (TokenReview and signing)',
    registers: [opts.registry],
    collect() {
      this.set(gate.inFlight);
    },
  });
  const handshakeFailures = new Counter({
    name: 'weft_tls_handshake_failures_total',
    help: 'Failed TLS handshakes on the HTTPS listener, by reason (handshake_timeout, too_many_handshakes, ...)',
    labelNames: ['direction', 'reason'] as const,
    registers: [opts.registry],
  });
  const guard = guardHandshakes(app.server, {
    ...(opts.handshake ?? DEFAULT_HANDSHAKE_BOUNDS),
    listener: 'ca',
    timers,
    log: opts.log,
    onFailure: (reason) => handshakeFailures.inc({ direction: 'inbound', reason }),
  });

  app.setErrorHandler((err, _req, reply) => fail(reply, err));
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = errorReply(new WeftError('WEFT_ERR_NOT_FOUND', `${req.method} ${req.url.split('?')[0] ?? ''}: weft ca serves POST /v1/certificates`));
    return reply.code(status).header('weft-error', body.error).send(body);
  });

  app.post('/v1/certificates', async (req, reply) => {
    // Shed before any work: past the bound a request waits for nothing and learns when to retry.
    const ticket = gate.enter(timers.now());
    if (!ticket.admitted) {
      refused.inc({ reason: refusalReason('WEFT_ERR_CA_BUSY') });
      const body: ErrorBody = { error: 'WEFT_ERR_CA_BUSY', message: `${gate.inFlight} certificate requests in flight (the most weft ca handles at once); retry after ${ticket.retryAfterSeconds} s` };
      return reply.code(429).header('retry-after', String(ticket.retryAfterSeconds)).header('weft-error', body.error).send(body);
    }
    const end = duration.startTimer();
    try {
      const refusal = opts.refusal?.();
      if (refusal) throw refusal;
      const auth = req.headers.authorization;
      const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
      if (!m?.[1]) throw new WeftError('WEFT_ERR_UNAUTHENTICATED', 'no bearer token: send the projected service-account token (audience weft-ca)');
      // Authenticate before looking at the CSR, so nobody learns anything without a valid token.
      const outcome = await opts.reviewer.review(m[1]);
      if (!outcome.authenticated) throw new WeftError('WEFT_ERR_UNAUTHENTICATED', `token refused: ${outcome.reason}`);
      const body = req.body as { csr?: unknown } | undefined;
      if (!body || typeof body !== 'object' || typeof body.csr !== 'string') {
        throw new WeftError('WEFT_ERR_CSR_MALFORMED', 'the body must be JSON {"csr": "<PEM CERTIFICATE REQUEST>"}');
      }
      const csr = await parseCsr(body.csr);
      const material = opts.material();
      const leaf = issueLeaf({ issuer: material.authority.issuer, csr, identity: outcome.identity, now: now(), lifetimeHours: opts.leafLifetimeHours });
      issued.inc();
      opts.log.info({ identity: outcome.identity, serial: leaf.serialNumber, notAfter: leaf.notAfter.toISOString() }, 'certificate issued');
      const answer: CertificateResponse = {
        certificate: leaf.pem + '\n',
        chain: material.chainPem,
        trustBundle: material.trustBundlePem,
        identity: outcome.identity,
        notAfter: leaf.notAfter.toISOString(),
      };
      return reply.code(200).send(answer);
    } catch (err) {
      if (isWeftError(err) && ERROR_CODES[err.code].status === 401) opts.log.info({ code: err.code, err: err.message }, 'certificate refused');
      return fail(reply, err);
    } finally {
      end();
      gate.leave(timers.now(), ticket.startedAt);
    }
  });

  await app.listen({ host: opts.listen.host, port: opts.listen.port });
  const addr = app.server.address();
  const port = addr && typeof addr === 'object' ? addr.port : opts.listen.port;
  const host = opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host;
  return {
    url: `https://${host}:${port}`,
    port,
    setServing(serving) {
      app.server.setSecureContext({ key: serving.keyPem, cert: serving.certChainPem });
    },
    close: async () => {
      guard.close();
      await app.close();
    },
  };
}
