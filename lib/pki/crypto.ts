// WebCrypto setup and P-256 key handling shared by the CA and the sidecar's key generation.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };

/** The only key algorithm weft issues for or accepts. */
export const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** The signature algorithm every weft certificate uses. */
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A fresh, extractable P-256 key pair. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
}

/** PKCS#8 PEM of a private key, as Node's TLS and the CA directory store it. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a PKCS#8 PEM P-256 private key for signing. */
export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return await webcrypto.subtle.importKey('pkcs8', der, P256, true, ['sign']);
}

export { randomSerial } from './serial.js';
