// The injector's own webhook certificate (WEFT_INJECTOR_TLS_PROVIDER=self, as istiod manages its
// webhook): made at start unless its Secret holds one that is not yet due, stored in that Secret
// (the other replicas and a restart reuse it), written as caBundle into the
// MutatingWebhookConfiguration, renewed at two thirds of its life on injected time, and handed to
// the server without a restart. During the overlap the old CA stays in the caBundle.
import { backoffDelayMs, type BackoffPolicy } from '../lib/backoff.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../lib/kube/client.js';
import type { Logger } from '../lib/logger.js';
import { issueSelfServing, readSelfServingPair, renewedCaBundle, selfServingRenewAtMs, type SelfServingPair } from '../lib/pki/self-serving.js';
import { sleep, type TimerHandle, type Timers } from '../lib/timers.js';
import type { ServingCert } from './serving-cert.js';

/** What the manager needs. */
export interface WebhookCertOptions {
  readonly kube: Pick<KubeClient, 'request'>;
  readonly namespace: string;
  /** The Secret it stores the pair in (tls.crt, tls.key, ca.crt, ca-bundle.crt). */
  readonly secretName: string;
  /** The MutatingWebhookConfiguration whose every webhook gets the caBundle. */
  readonly webhookName: string;
  /** DNS names of the injector Service the leaf names. */
  readonly names: readonly string[];
  readonly lifetimeHours: number;
  /**
   * Between renewals it re-reads the Secret and the webhook configuration this often: a caBundle
   * an upgrade or a person removed is written back, and a pair another replica renewed is served.
   * Unset: only at renewal.
   */
  readonly resyncMs?: number;
  readonly timers: Timers;
  readonly logger: Logger;
  /** Called with every certificate to serve: the first before start() resolves, then each renewal. */
  onCert(cert: ServingCert): void;
}

interface SecretObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

interface WebhookConfiguration {
  webhooks?: { clientConfig?: { caBundle?: string } }[];
}

// Retries after a failed renewal: soon at first, at most every five minutes.
const RETRY: BackoffPolicy = { initialMs: 5_000, maxMs: 300_000 };

const fromB64 = (v: string | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));
const toB64 = (v: string): string => Buffer.from(v, 'utf8').toString('base64');

/** Keeps the injector's serving certificate and the webhook's caBundle current. */
export class WebhookCertManager {
  readonly #o: WebhookCertOptions;
  #timer: TimerHandle | undefined;
  #closed = false;
  #failures = 0;
  /** The pair being served. */
  current: SelfServingPair | undefined;

  constructor(opts: WebhookCertOptions) {
    this.#o = opts;
  }

  /** Makes or reuses the pair, writes the caBundle, serves it, and schedules the renewal; throws when the API refuses. */
  async start(): Promise<void> {
    await this.#sync();
  }

  /** start(), retried with backoff while the API refuses; false when `signal` aborted first. */
  async startRetrying(signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.#sync();
        return true;
      } catch (err) {
        const retryMs = backoffDelayMs(attempt, RETRY, Math.random);
        this.#o.logger.error({ err: (err as Error).message, retryMs }, 'no webhook serving certificate yet: not ready');
        await sleep(this.#o.timers, retryMs, signal);
      }
    }
    return false;
  }

  /** Stops the renewal timer. */
  close(): void {
    this.#closed = true;
    this.#o.timers.clearTimeout(this.#timer);
  }

  async #sync(): Promise<void> {
    const { pair, bundle } = await this.#ensureStored();
    await this.#writeCaBundle(bundle);
    if (this.current?.certPem !== pair.certPem) {
      this.#o.onCert({ cert: pair.certPem, key: pair.keyPem });
      this.#o.logger.info({ notAfter: new Date(pair.notAfterMs).toISOString(), renewAt: new Date(selfServingRenewAtMs(pair)).toISOString() }, 'webhook serving certificate in use');
    }
    this.current = pair;
    this.#schedule(Math.min(selfServingRenewAtMs(pair) - this.#o.timers.now(), this.#o.resyncMs ?? Infinity));
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#o.timers.clearTimeout(this.#timer);
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#sync().then(
        () => (this.#failures = 0),
        (err: unknown) => {
          this.#failures += 1;
          const retryMs = backoffDelayMs(this.#failures, RETRY, Math.random);
          this.#o.logger.error({ err: (err as Error).message, retryMs }, 'webhook certificate renewal failed; the current one stays');
          this.#schedule(retryMs);
        },
      );
    }, Math.max(0, delayMs));
    this.#timer.unref();
  }

  /** The stored pair if not due, else a new one written over it; a write race adopts the winner's. */
  async #ensureStored(): Promise<{ pair: SelfServingPair; bundle: string }> {
    const path = resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: this.#o.namespace, name: this.#o.secretName });
    for (let attempt = 0; ; attempt++) {
      let secret: SecretObject;
      try {
        secret = await this.#o.kube.request<SecretObject>('GET', path);
      } catch (err) {
        // The chart renders the Secret empty: the injector may get and update that one name, not create.
        if (isKubeStatus(err, 404)) throw new Error(`Secret ${this.#o.namespace}/${this.#o.secretName} not found: create it (empty) for the injector to fill`);
        throw err;
      }
      const data = secret.data ?? {};
      const stored = readSelfServingPair(fromB64(data['tls.crt']), fromB64(data['tls.key']), fromB64(data['ca.crt']));
      const now = this.#o.timers.now();
      if (stored && now < selfServingRenewAtMs(stored)) return { pair: stored, bundle: fromB64(data['ca-bundle.crt']) ?? stored.caPem };
      const next = await issueSelfServing({ names: this.#o.names, nowMs: now, lifetimeHours: this.#o.lifetimeHours });
      const bundle = renewedCaBundle(next, stored, now);
      const body: SecretObject = {
        // Its metadata as read (Helm's ownership labels and annotations stay) and its type, which
        // the API server does not let an update change (the chart renders it Opaque).
        metadata: secret.metadata,
        ...(secret.type === undefined ? {} : { type: secret.type }),
        data: { 'tls.crt': toB64(next.certPem), 'tls.key': toB64(next.keyPem), 'ca.crt': toB64(next.caPem), 'ca-bundle.crt': toB64(bundle) },
      };
      try {
        await this.#o.kube.request('PUT', path, body);
        this.#o.logger.info({ secret: `${this.#o.namespace}/${this.#o.secretName}`, renewed: stored !== undefined }, stored ? 'webhook serving certificate renewed' : 'webhook serving certificate created');
        return { pair: next, bundle };
      } catch (err) {
        // Another replica wrote first (409 on a stale resourceVersion): read theirs.
        if (!isKubeStatus(err, 409) || attempt >= 2) throw err;
      }
    }
  }

  async #writeCaBundle(bundle: string): Promise<void> {
    const path = resourcePath({ group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingwebhookconfigurations', name: this.#o.webhookName });
    const config = await this.#o.kube.request<WebhookConfiguration>('GET', path);
    const want = toB64(bundle);
    const ops = (config.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig?.caBundle === want ? [] : [{ op: w.clientConfig?.caBundle === undefined ? 'add' : 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }]);
    if (ops.length === 0) return;
    await this.#o.kube.request('PATCH', path, ops, { contentType: 'application/json-patch+json' });
    this.#o.logger.info({ webhook: this.#o.webhookName, webhooks: ops.length, cas: bundle.split('BEGIN CERTIFICATE').length - 1 }, 'webhook caBundle updated');
  }
}
