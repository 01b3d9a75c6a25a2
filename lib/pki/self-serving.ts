// A serving certificate a component makes for itself (the injector's webhook certificate, as
// istiod does): a fresh CA and a leaf for the Service's DNS names, both ECDSA P-256, the policy of
// when to renew it, and the caBundle that keeps the previous CA trusted while it may still serve.
import { ECDSA_SHA256, generateKeyPair, privateKeyToPem, randomSerial, x509 } from './crypto.js';
import { signServingLeaf } from './serving-leaf.js';

const HOUR_MS = 3_600_000;
// Clocks of the API server and the pod may differ by a little; a tenth of a short life at most,
// so that a short validity still leaves its renewal time ahead of the issuing time.
const BACKDATE_MAX_MS = 60_000;

/** Renewed at two thirds of its life: a third left to retry through an API outage. */
export const SELF_SERVING_RENEW_FRACTION = 2 / 3;

/** One CA with the leaf it signed, as PEM, and the leaf's validity. */
export interface SelfServingPair {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** A new CA and a serving leaf for `names` (the first is the subject), valid `lifetimeHours`. */
export async function issueSelfServing(opts: { names: readonly string[]; nowMs: number; lifetimeHours: number }): Promise<SelfServingPair> {
  const notBefore = new Date(opts.nowMs - Math.min(BACKDATE_MAX_MS, Math.floor((opts.lifetimeHours * HOUR_MS) / 10)));
  const notAfter = new Date(opts.nowMs + opts.lifetimeHours * HOUR_MS);
  const caKeys = await generateKeyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=weft-injector-ca-${notBefore.toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leafKeys = await generateKeyPair();
  const leaf = await signServingLeaf({
    names: opts.names,
    publicKey: leafKeys.publicKey,
    issuerName: ca.subject,
    issuerKey: caKeys.privateKey,
    issuerKeyId: caKeys.publicKey,
    notBefore,
    notAfter,
  });
  return { caPem: ca.toString('pem') + '\n', certPem: leaf.toString('pem') + '\n', keyPem: await privateKeyToPem(leafKeys.privateKey), notBeforeMs: notBefore.getTime(), notAfterMs: notAfter.getTime() };
}

/** When a pair is due for renewal (ms since the epoch). */
export function selfServingRenewAtMs(pair: Pick<SelfServingPair, 'notBeforeMs' | 'notAfterMs'>): number {
  return pair.notBeforeMs + Math.floor((pair.notAfterMs - pair.notBeforeMs) * SELF_SERVING_RENEW_FRACTION);
}

/**
 * The caBundle after a renewal: the new CA first, then the previous CA while its leaf is still
 * valid, since another replica may serve that leaf until it reloads.
 */
export function renewedCaBundle(next: SelfServingPair, previous: SelfServingPair | undefined, nowMs: number): string {
  if (previous === undefined || previous.notAfterMs <= nowMs || previous.caPem === next.caPem) return next.caPem;
  return next.caPem + previous.caPem;
}

/** A stored pair read back (tls.crt, tls.key, ca.crt as PEM); undefined when absent or unusable. */
export function readSelfServingPair(certPem: string | undefined, keyPem: string | undefined, caPem: string | undefined): SelfServingPair | undefined {
  if (!certPem || !keyPem || !caPem) return undefined;
  try {
    const leaf = new x509.X509Certificate(certPem);
    return { caPem, certPem, keyPem, notBeforeMs: leaf.notBefore.getTime(), notAfterMs: leaf.notAfter.getTime() };
  } catch {
    return undefined;
  }
}
