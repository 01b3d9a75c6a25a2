// Signs pod leaves with node:crypto only: what both `weft ca` and a local-mode proxy use, so that
// neither loads @peculiar/x509 to issue (a proxy's resident memory is paid in every pod).
import { type KeyObject } from 'node:crypto';
import { authorityKeyIdExtension, certificatePem, leafTbs, signTbs, subjectNameDer } from './leaf-der.js';
import { randomSerial } from './serial.js';

const HOUR_MS = 3_600_000;
/** Leaves are backdated by this much so a peer whose clock runs a little behind accepts them. */
export const BACKDATE_MS = 60_000;
/** Default leaf lifetime (DESIGN.md: 24 h). */
export const DEFAULT_LEAF_LIFETIME_HOURS = 24;

/** What every leaf of one issuer shares, worked out once per issuer. */
export interface LeafIssuer {
  /** The issuer's subject, DER, written as each leaf's issuer. */
  readonly name: Uint8Array;
  /** The authorityKeyIdentifier extension, DER. */
  readonly authorityKeyId: Uint8Array;
  readonly key: KeyObject;
  /** Leaves never outlive their issuer. */
  readonly notAfter: Date;
}

/** A signed pod leaf. */
export interface IssuedLeaf {
  readonly der: Uint8Array;
  /** PEM without a trailing newline. */
  readonly pem: string;
  /** The serial as lowercase hex. */
  readonly serialNumber: string;
  /** As written in the certificate (whole seconds). */
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A leaf issuer from the issuer certificate's DER, its private key and its notAfter. */
export function leafIssuer(certDer: Uint8Array, key: KeyObject, notAfter: Date): LeafIssuer {
  return { name: subjectNameDer(certDer), authorityKeyId: authorityKeyIdExtension(certDer), key, notAfter };
}

/** Signs a leaf for `identity` over `spki` (DER): URI SAN only, client and server auth. */
export function signLeaf(opts: {
  issuer: LeafIssuer;
  spki: Uint8Array;
  identity: string;
  now: Date;
  lifetimeHours?: number;
  random?: (bytes: Uint8Array) => Uint8Array;
}): IssuedLeaf {
  const lifetimeMs = (opts.lifetimeHours ?? DEFAULT_LEAF_LIFETIME_HOURS) * HOUR_MS;
  const notBefore = wholeSeconds(opts.now.getTime() - BACKDATE_MS);
  const notAfter = wholeSeconds(Math.min(opts.now.getTime() + lifetimeMs, opts.issuer.notAfter.getTime()));
  const serialNumber = randomSerial(opts.random);
  const tbs = leafTbs({ serialHex: serialNumber, issuerName: opts.issuer.name, authorityKeyId: opts.issuer.authorityKeyId, notBefore, notAfter, spki: opts.spki, identity: opts.identity });
  const der = signTbs(tbs, opts.issuer.key);
  return { der, pem: certificatePem(der), serialNumber, notBefore, notAfter };
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}
