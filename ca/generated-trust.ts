// Keeps `weft ca`'s generated trust alive while it runs: every interval it reads its Secret
// (reloading when another replica or a person changed it, re-creating it from memory when it was
// deleted), renews the issuer at two thirds of its life with the same root (the trust bundle
// stays the root, so proxies need no change), and re-creates the trust-anchors ConfigMap when it
// is gone. Its clock and timers come from the caller.
import type { Counter } from 'prom-client';
import { createIssuer } from '../lib/pki/authority.js';
import { privateKeyFromPem, privateKeyToPem, x509 } from '../lib/pki/crypto.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../lib/kube/client.js';
import type { Logger } from '../lib/logger.js';
import type { TimerHandle, Timers } from '../lib/timers.js';
import { SECRET_KEYS, materialFromPem, publishTrustAnchors, type CaMaterial } from './material.js';
import { ownerMetadata, withOwner, type OwnerMetadata } from './ownership.js';
import { decideIssuer } from './issuer-rotation.js';

const HOUR_MS = 3_600_000;

/** What the generated-trust loop needs. */
export interface GeneratedTrustOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly secretName: string;
  /** The trust-anchors ConfigMap; undefined publishes none. */
  readonly configMapName: string | undefined;
  /** Labels and annotations of a Secret or ConfigMap it re-creates (default: weft-ca's own). */
  readonly owner?: OwnerMetadata;
  readonly trustDomain: string;
  /** Lifetime of a renewed issuer (clamped to the root's). */
  readonly issuerLifetimeHours: number;
  /** How often the Secret and the ConfigMap are checked. */
  readonly intervalMs: number;
  readonly timers: Timers;
  readonly log: Logger;
  /** The material in force. */
  readonly current: () => CaMaterial;
  /** Puts new material in force (the serving certificate is re-issued from it). */
  readonly apply: (material: CaMaterial) => Promise<void>;
  /** Counts issuer renewals this replica wrote. */
  readonly renewals?: Counter;
}

interface SecretObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined): string | undefined => (text === undefined ? undefined : Buffer.from(text, 'base64').toString('utf8'));

/** The periodic check of the generated Secret and ConfigMap. */
export class GeneratedTrust {
  readonly #o: GeneratedTrustOptions;
  readonly #secretPath: string;
  /** The Secret's data as last read, to put it back if it is deleted. */
  #lastData: Record<string, string> | undefined;
  #blocked: string | undefined;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(opts: GeneratedTrustOptions) {
    this.#o = opts;
    this.#secretPath = resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: opts.namespace, name: opts.secretName });
  }

  /** Runs the first check now, then one every interval (sooner when a renewal falls due). */
  start(): void {
    this.#schedule(0);
  }

  /** Stops the checks (one in progress finishes). */
  close(): void {
    this.#closed = true;
    this.#o.timers.clearTimeout(this.#timer);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = this.#o.timers.setTimeout(() => {
      void this.check().then(
        (next) => this.#schedule(next),
        (err: unknown) => {
          this.#o.log.warn({ code: isWeftError(err) ? err.code : undefined, err: (err as Error).message }, 'checking the CA Secret failed; the material in force stays');
          this.#schedule(this.#o.intervalMs);
        },
      );
    }, delayMs);
    this.#timer.unref();
  }

  /** One check; resolves to the delay before the next one. */
  async check(): Promise<number> {
    const o = this.#o;
    const secret = await this.#readSecret();
    const data = secret.data ?? {};
    const cert = unb64(data[SECRET_KEYS.cert]);
    const key = unb64(data[SECRET_KEYS.key]);
    const root = unb64(data[SECRET_KEYS.root]);
    const rootKey = unb64(data[SECRET_KEYS.rootKey]);
    if (!cert || !key || !root) throw new WeftError('WEFT_ERR_CA_MATERIAL', `Secret ${o.namespace}/${o.secretName} lacks its issuer or root`);
    const source = `Secret ${o.namespace}/${o.secretName}`;
    const issuerCert = new x509.X509Certificate(cert);
    if (issuerCert.serialNumber !== o.current().authority.issuer.cert.serialNumber) {
      const loaded = await materialFromPem({ issuerCertPem: cert, issuerKeyPem: key, trustAnchorsPem: root, source });
      await o.apply(loaded);
      o.log.info({ source, issuerNotAfter: loaded.authority.issuer.cert.notAfter.toISOString() }, 'CA Secret changed; material reloaded');
    }
    const now = o.timers.now();
    const rootCert = new x509.X509Certificate(root);
    const decision = decideIssuer({
      issuer: issuerCert,
      nowMs: now,
      hasRootKey: rootKey !== undefined,
      newNotAfterMs: Math.min(now + o.issuerLifetimeHours * HOUR_MS, rootCert.notAfter.getTime()),
    });
    if (decision.kind === 'blocked' && decision.reason !== this.#blocked) o.log.warn({ issuerNotAfter: issuerCert.notAfter.toISOString() }, decision.reason);
    this.#blocked = decision.kind === 'blocked' ? decision.reason : undefined;
    if (decision.kind === 'renew' && rootKey !== undefined) {
      await this.#renew(secret, { cert: rootCert, key: await privateKeyFromPem(rootKey) }, root, issuerCert);
    }
    if (o.configMapName) {
      const outcome = await publishTrustAnchors(o.client, o.namespace, o.configMapName, o.current().trustBundlePem, o.owner ?? ownerMetadata(undefined));
      if (outcome === 'created') o.log.warn({ configMap: `${o.namespace}/${o.configMapName}` }, 'trust-anchors ConfigMap was missing; re-created');
    }
    return decision.kind === 'keep' ? Math.min(o.intervalMs, Math.max(0, decision.renewAtMs - now)) : o.intervalMs;
  }

  /** Reads the Secret, putting the last one read back when it was deleted. */
  async #readSecret(): Promise<SecretObject> {
    const o = this.#o;
    try {
      const secret = await o.client.request<SecretObject>('GET', this.#secretPath);
      this.#lastData = secret.data;
      return secret;
    } catch (err) {
      if (!isKubeStatus(err, 404) || !this.#lastData) throw err;
    }
    o.log.warn({ secret: `${o.namespace}/${o.secretName}` }, 'CA Secret was deleted; re-creating it from the material in memory');
    const body: SecretObject = {
      metadata: { name: o.secretName, namespace: o.namespace, ...withOwner(undefined, o.owner ?? ownerMetadata(undefined)) },
      type: 'kubernetes.io/tls',
      data: this.#lastData,
    };
    return await o.client.request<SecretObject>('POST', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: o.namespace }), { apiVersion: 'v1', kind: 'Secret', ...body });
  }

  /**
   * Writes a new issuer signed by the same root into the Secret and puts it in force; when another
   * replica changed the Secret first (409), the next check loads theirs.
   */
  async #renew(secret: SecretObject, root: { cert: x509.X509Certificate; key: CryptoKey }, rootPem: string, old: x509.X509Certificate): Promise<void> {
    const o = this.#o;
    const issuer = await createIssuer({ root, trustDomain: o.trustDomain, now: new Date(o.timers.now()), lifetimeHours: o.issuerLifetimeHours });
    const certPem = issuer.cert.toString('pem');
    const keyPem = await privateKeyToPem(issuer.key);
    // Checked before it is written: a Secret holding an issuer that does not load helps nobody.
    const loaded = await materialFromPem({ issuerCertPem: certPem, issuerKeyPem: keyPem, trustAnchorsPem: rootPem, source: `Secret ${o.namespace}/${o.secretName}` });
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { ...secret.metadata, name: o.secretName, namespace: o.namespace },
      type: secret.type ?? 'kubernetes.io/tls',
      data: { ...(secret.data ?? {}), [SECRET_KEYS.cert]: b64(certPem), [SECRET_KEYS.key]: b64(keyPem) },
    };
    let written: SecretObject;
    try {
      written = await o.client.request<SecretObject>('PUT', this.#secretPath, body);
    } catch (err) {
      if (!isKubeStatus(err, 409)) throw err;
      o.log.info('another replica changed the CA Secret first; loading theirs at the next check');
      return;
    }
    this.#lastData = written.data;
    await o.apply(loaded);
    o.renewals?.inc();
    o.log.info(
      { oldIssuerNotAfter: old.notAfter.toISOString(), issuerNotAfter: issuer.cert.notAfter.toISOString(), serial: issuer.cert.serialNumber },
      'issuer renewed with the same root',
    );
  }
}
