// Kubernetes mode's identity: the proxy makes a P-256 key in memory, sends a CSR to `weft ca`
// with its projected service-account token, checks the CA by the trust anchors (WEFT_TRUST_ANCHORS or its file), and renews
// at about 70 % of the leaf's lifetime with jitter; a failed attempt is retried with capped,
// jittered backoff while the current certificate keeps serving; a Retry-After from the CA is
// honoured (no request before it).
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { Counter, type Registry } from '../../lib/metrics-client.js';
// node:crypto only: a proxy in kubernetes mode never loads @peculiar/x509 (lib/pki/csr-build.ts).
import { makeKeyAndCsr } from '../../lib/pki/csr-build.js';
import { WeftError, isWeftError } from '../../lib/errors.js';
import { identityFromSubjectAltName } from '../../lib/identity.js';
import type { Logger } from '../../lib/logger.js';
import { realTimers, sleep, type Timers } from '../../lib/timers.js';
import { parseRetryAfterMs } from '../../lib/kube/client.js';
import type { IdentityProvider, TlsMaterial } from './identity-provider.js';
import { RenewalScheduler } from './renewal.js';

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
  /** Clock of renewal and retry timers (fake in tests). */
  readonly timers?: Timers;
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
  readonly #scheduler: RenewalScheduler;
  readonly #closed = new AbortController();
  #material: TlsMaterial | undefined;
  /** No request before this time (ms): the CA answered with a Retry-After. */
  #notBefore = 0;

  constructor(opts: CaClientOptions) {
    this.#o = opts;
    this.#requests = opts.registry
      ? new Counter({ name: 'weft_identity_certificate_requests_total', help: 'Certificate requests to weft ca, by result', labelNames: ['result'] as const, registers: [opts.registry] })
      : undefined;
    this.#scheduler = new RenewalScheduler({
      obtain: () => this.#obtain(),
      onMaterial: (material) => this.#install(material),
      onFailure: (err, attempt, retryInMs) => this.#logFailure(err, attempt, retryInMs),
      timers: opts.timers ?? realTimers,
      random: opts.random ?? Math.random,
    });
  }

  current(): TlsMaterial | undefined {
    return this.#material;
  }

  onChange(listener: (material: TlsMaterial) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves once the first certificate is held (retrying meanwhile), or when closed. */
  async start(): Promise<void> {
    await this.#scheduler.start(true);
  }

  close(): void {
    this.#closed.abort();
    this.#scheduler.close();
  }

  #logFailure(err: unknown, attempt: number, retryInMs: number): void {
    this.#o.log.warn(
      { code: isWeftError(err) ? err.code : 'WEFT_ERR_CA_REQUEST', err: (err as Error).message, attempt, retryInMs, ca: this.#o.caAddr },
      this.#material ? 'certificate renewal failed; the current one keeps serving' : 'no certificate yet; retrying',
    );
  }

  async #obtain(): Promise<TlsMaterial> {
    try {
      const material = await this.#request();
      this.#requests?.inc({ result: 'issued' });
      return material;
    } catch (err) {
      this.#requests?.inc({ result: 'failed' });
      throw err;
    }
  }

  #install(material: TlsMaterial): void {
    this.#material = material;
    if (material.identity !== this.#o.expectedIdentity) {
      this.#o.log.warn({ identity: material.identity, expected: this.#o.expectedIdentity }, 'the CA signed another identity than this pod expects (token and env disagree)');
    }
    this.#o.log.info({ identity: material.identity, notAfter: material.notAfter.toISOString() }, 'certificate received');
    for (const listener of this.#listeners) listener(material);
  }

  async #request(): Promise<TlsMaterial> {
    const fail = (message: string, cause?: unknown): WeftError =>
      new WeftError('WEFT_ERR_CA_REQUEST', message, cause === undefined ? undefined : { cause });
    const timers = this.#o.timers ?? realTimers;
    // The retry backoff may come sooner than the CA (or the API server behind it) asked: wait the rest.
    const wait = this.#notBefore - timers.now();
    if (wait > 0) await sleep(timers, wait, this.#closed.signal);
    if (this.#closed.signal.aborted) throw fail('closed');
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
    const keys = await makeKeyAndCsr(this.#o.expectedIdentity);
    const body = JSON.stringify({ csr: keys.csrPem });
    const url = new URL('/v1/certificates', this.#o.caAddr);
    const answer = await new Promise<{ status: number; retryAfter: string | undefined; body: CaAnswer }>((resolve, reject) => {
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
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: parsed });
        });
        res.on('error', (err) => reject(fail(`reading the answer of ${url.origin}: ${err.message}`, err)));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(fail(`cannot reach ${url.origin}: ${err.message}`, err)));
      req.end(body);
    });
    if (answer.status !== 200) {
      const retryAfterMs = parseRetryAfterMs(answer.retryAfter, timers.now());
      if (retryAfterMs !== undefined) this.#notBefore = timers.now() + retryAfterMs;
      const asked = retryAfterMs === undefined ? '' : ` (asked to retry after ${retryAfterMs} ms)`;
      throw fail(`${url.origin} refused: ${answer.status} ${textField(answer.body.error)} ${textField(answer.body.message)}`.trim() + asked);
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
    const ours = keys.publicKey.export({ format: 'jwk' });
    const theirs = leaf.publicKey.export({ format: 'jwk' });
    if (ours.x !== theirs.x || ours.y !== theirs.y) throw fail(`the certificate from ${url.origin} is not for the key this proxy sent`);
    const identity = identityFromSubjectAltName(leaf.subjectAltName);
    if (!identity) throw fail(`the certificate from ${url.origin} carries no weft identity`);
    return {
      identity,
      keyPem: keys.keyPem,
      certChainPem: certificate.trimEnd() + '\n' + chain.trimEnd() + '\n',
      trustBundlePem: trustBundle,
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
    };
  }
}

/** A JSON field shown in a message: strings as they are, anything else as JSON. */
function textField(v: unknown): string {
  return v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
}
