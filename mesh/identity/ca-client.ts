// Kubernetes mode's identity: the proxy makes a P-256 key in memory, sends a CSR to `weft ca`
// with its projected service-account token, checks the CA by the trust anchors (WEFT_TRUST_ANCHORS or its file), and renews
// at about 70 % of the leaf's lifetime with jitter; a failed attempt is retried with capped,
// jittered backoff while the current certificate keeps serving.
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { createCsr } from '../../lib/pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../../lib/pki/crypto.js';
import { WeftError, isWeftError } from '../../lib/errors.js';
import { identityFromSubjectAltName } from '../../lib/identity.js';
import type { Logger } from '../../lib/logger.js';
import type { IdentityProvider, TlsMaterial } from './identity-provider.js';

/** Renewal starts at this fraction of the leaf's remaining lifetime when it was received. */
export const RENEW_FRACTION = 0.7;
/** Jitter either way, as a fraction of that lifetime. */
export const RENEW_JITTER = 0.05;
/** Backoff of failed requests. */
export const RETRY_POLICY = { initialMs: 500, maxMs: 30_000 } as const;

/**
 * When to renew (pure): at about 70 % of the time between receiving the leaf and its expiry
 * (not its notBefore: the CA backdates leaves for clock skew, which is no lifetime), jittered
 * so that pods started together do not renew together. Never later than 10 s before expiry.
 */
export function renewAtMs(receivedAtMs: number, notAfterMs: number, random: () => number): number {
  const span = Math.max(0, notAfterMs - receivedAtMs);
  const jitter = (random() * 2 - 1) * RENEW_JITTER * span;
  const at = receivedAtMs + RENEW_FRACTION * span + jitter;
  return Math.round(Math.max(receivedAtMs, Math.min(at, notAfterMs - 10_000)));
}

/** Delay before retry number `attempt` (1-based), capped and jittered between half and all (pure). */
export function retryAfterMs(attempt: number, random: () => number): number {
  const ceiling = Math.min(RETRY_POLICY.maxMs, RETRY_POLICY.initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Options of the CA client. */
export interface CaClientOptions {
  /** https://weft-ca.weft-system.svc:8443 */
  readonly caAddr: string;
  /** PEM trust anchors from WEFT_TRUST_ANCHORS (already checked); when set, the file is not read. */
  readonly trustAnchors?: string | undefined;
  readonly trustAnchorsFile: string;
  readonly tokenFile: string;
  /** The identity this pod expects (from its downward-API env); a different answer is logged. */
  readonly expectedIdentity: string;
  readonly log: Logger;
  readonly registry?: Registry;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Request timeout. */
  readonly timeoutMs?: number;
}

interface CaAnswer {
  certificate?: unknown;
  chain?: unknown;
  trustBundle?: unknown;
  error?: unknown;
  message?: unknown;
}

/** Gets and renews the pod's certificate from `weft ca`. */
export class CaClientIdentityProvider implements IdentityProvider {
  readonly #o: CaClientOptions;
  readonly #listeners: ((m: TlsMaterial) => void)[] = [];
  readonly #requests: Counter<'result'> | undefined;
  #material: TlsMaterial | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #wakeStart: (() => void) | undefined;

  constructor(opts: CaClientOptions) {
    this.#o = opts;
    this.#requests = opts.registry
      ? new Counter({ name: 'weft_identity_certificate_requests_total', help: 'Certificate requests to weft ca, by result', labelNames: ['result'] as const, registers: [opts.registry] })
      : undefined;
  }

  current(): TlsMaterial | undefined {
    return this.#material;
  }

  onChange(listener: (material: TlsMaterial) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves once the first certificate is held (retrying meanwhile), or when closed. */
  async start(): Promise<void> {
    const random = this.#o.random ?? Math.random;
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        await this.#renew();
        return;
      } catch (err) {
        const delay = retryAfterMs(attempt, random);
        this.#logFailure(err, attempt, delay);
        await new Promise<void>((resolve) => {
          this.#wakeStart = resolve;
          this.#timer = setTimeout(resolve, delay);
        });
      }
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wakeStart?.();
  }

  #logFailure(err: unknown, attempt: number, retryInMs: number): void {
    this.#o.log.warn(
      { code: isWeftError(err) ? err.code : 'WEFT_ERR_CA_REQUEST', err: (err as Error).message, attempt, retryInMs, ca: this.#o.caAddr },
      this.#material ? 'certificate renewal failed; the current one keeps serving' : 'no certificate yet; retrying',
    );
  }

  #schedule(delayMs: number, attempt: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#renew().catch((err: unknown) => {
        const next = attempt + 1;
        const delay = retryAfterMs(next, this.#o.random ?? Math.random);
        this.#logFailure(err, next, delay);
        this.#schedule(delay, next);
      });
    }, Math.min(Math.max(0, delayMs), 2 ** 31 - 1));
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    const now = this.#o.now ?? Date.now;
    let material: TlsMaterial;
    try {
      material = await this.#request();
      this.#requests?.inc({ result: 'issued' });
    } catch (err) {
      this.#requests?.inc({ result: 'failed' });
      throw err;
    }
    if (this.#closed) return;
    this.#material = material;
    if (material.identity !== this.#o.expectedIdentity) {
      this.#o.log.warn({ identity: material.identity, expected: this.#o.expectedIdentity }, 'the CA signed another identity than this pod expects (token and env disagree)');
    }
    this.#o.log.info({ identity: material.identity, notAfter: material.notAfter.toISOString() }, 'certificate received');
    for (const listener of this.#listeners) listener(material);
    const receivedAt = now();
    this.#schedule(renewAtMs(receivedAt, material.notAfter.getTime(), this.#o.random ?? Math.random) - receivedAt, 0);
  }

  async #request(): Promise<TlsMaterial> {
    const fail = (message: string, cause?: unknown): WeftError =>
      new WeftError('WEFT_ERR_CA_REQUEST', message, cause === undefined ? undefined : { cause });
    // Both files are re-read every time: the kubelet rotates the token and trust can rotate. Trust
    // anchors from the environment are fixed for the pod's life (a restart picks up new ones).
    const fromEnv = this.#o.trustAnchors;
    const [anchors, token] = await Promise.all([
      fromEnv !== undefined
        ? Promise.resolve(fromEnv)
        : readFile(this.#o.trustAnchorsFile, 'utf8').catch((err: Error) => {
            throw fail(`cannot read the trust anchors ${this.#o.trustAnchorsFile}: ${err.message}`, err);
          }),
      readFile(this.#o.tokenFile, 'utf8').catch((err: Error) => {
        throw fail(`cannot read the token ${this.#o.tokenFile}: ${err.message}`, err);
      }),
    ]);
    const keys = await generateKeyPair();
    const body = JSON.stringify({ csr: await createCsr(keys, this.#o.expectedIdentity) });
    const url = new URL('/v1/certificates', this.#o.caAddr);
    const answer = await new Promise<{ status: number; body: CaAnswer }>((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        ca: anchors,
        timeout: this.#o.timeoutMs ?? 10_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token.trim()}` },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: CaAnswer = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as CaAnswer;
          } catch {
            // an answer that is not JSON is reported by status below
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', (err) => reject(fail(`reading the answer of ${url.origin}: ${err.message}`, err)));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(fail(`cannot reach ${url.origin}: ${err.message}`, err)));
      req.end(body);
    });
    if (answer.status !== 200) {
      throw fail(`${url.origin} refused: ${answer.status} ${String(answer.body.error ?? '')} ${String(answer.body.message ?? '')}`.trim());
    }
    const { certificate, chain, trustBundle } = answer.body;
    if (typeof certificate !== 'string' || typeof chain !== 'string' || typeof trustBundle !== 'string') {
      throw fail(`${url.origin} answered without certificate, chain and trustBundle`);
    }
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(certificate);
    } catch (err) {
      throw fail(`the certificate from ${url.origin} does not parse: ${(err as Error).message}`, err);
    }
    // The leaf must be for our key, or TLS would fail on every handshake.
    const ours = createPublicKey(await privateKeyToPem(keys.privateKey)).export({ format: 'jwk' });
    const theirs = leaf.publicKey.export({ format: 'jwk' });
    if (ours.x !== theirs.x || ours.y !== theirs.y) throw fail(`the certificate from ${url.origin} is not for the key this proxy sent`);
    const identity = identityFromSubjectAltName(leaf.subjectAltName);
    if (!identity) throw fail(`the certificate from ${url.origin} carries no weft identity`);
    return {
      identity,
      keyPem: await privateKeyToPem(keys.privateKey),
      certChainPem: certificate.trimEnd() + '\n' + chain.trimEnd() + '\n',
      trustBundlePem: trustBundle,
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
    };
  }
}
