// TLS settings of the mesh hop: TLS 1.3 only, both sides present weft leaves, and the client
// checks the server's identity against the one the endpoint must have.
import tls, { type TLSSocket, type PeerCertificate } from 'node:tls';
import { identityFromSubjectAltName } from '../lib/identity.js';
import { WeftError } from '../lib/errors.js';
import type { TlsMaterial } from './identity/identity-provider.js';

/** ALPN protocols the inbound listener speaks. `weft-tcp` is opaque TCP with a port preamble. */
export const MESH_ALPN = ['h2', 'http/1.1', 'weft-tcp'] as const;

/** Server-side secure context options for the inbound listener. */
export function serverTlsOptions(material: TlsMaterial): tls.SecureContextOptions & tls.TlsOptions {
  return {
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.trustBundlePem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    // Verification still runs; the listener refuses every socket with authorized=false itself
    // (unauthorizedReason), because under TLS 1.3 OpenSSL's own refusal reaches Node only as a
    // bare ECONNRESET and the reason (expired, untrusted, no certificate) would be lost.
    rejectUnauthorized: false,
    ALPNProtocols: [...MESH_ALPN],
  };
}

/** Client-side secure context for dialling peer sidecars. */
export function clientSecureContext(material: TlsMaterial): tls.SecureContext {
  return tls.createSecureContext({
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.trustBundlePem,
    minVersion: 'TLSv1.3',
  });
}

/** The weft identity in a verified peer certificate, if it carries exactly one. */
export function peerIdentity(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  return identityFromSubjectAltName((cert as PeerCertificate | undefined)?.subjectaltname);
}

/**
 * A checkServerIdentity for tls.connect: the chain was already verified against the trust
 * bundle; this refuses a peer whose URI SAN is not `expected` with WEFT_ERR_PEER_IDENTITY.
 */
export function expectIdentity(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const got = identityFromSubjectAltName(cert.subjectaltname);
    if (got === expected) return undefined;
    return new WeftError(
      'WEFT_ERR_PEER_IDENTITY',
      `peer presented ${got ?? 'no weft identity'}, the endpoint must be ${expected}`,
    );
  };
}

/** Why a client that completed the handshake is refused, or undefined when it is authorized. */
export function unauthorizedReason(socket: TLSSocket): string | undefined {
  if (socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return 'no_client_cert';
  const error = String(socket.authorizationError ?? '');
  if (error === 'CERT_HAS_EXPIRED') return 'expired';
  if (error === 'CERT_NOT_YET_VALID') return 'not_yet_valid';
  return 'untrusted';
}

/** Short reason label for a failed inbound handshake (metrics label, log field). */
export function handshakeFailureReason(err: Error & { code?: string }): string {
  const text = `${err.code ?? ''} ${err.message}`.toLowerCase();
  if (text.includes('unsupported protocol') || text.includes('unsupported_protocol')) return 'tls_version';
  if (text.includes('wrong_version_number') || text.includes('wrong version number') || text.includes('http_request') || text.includes('http request') || text.includes('unknown_protocol')) return 'not_tls';
  if (text.includes('peer_did_not_return_a_certificate') || text.includes('peer did not return a certificate') || text.includes('certificate required')) return 'no_client_cert';
  if (text.includes('expired')) return 'expired';
  if (text.includes('unknown ca') || text.includes('unable to get') || text.includes('verify') || text.includes('self signed') || text.includes('self-signed')) return 'untrusted';
  if (text.includes('econnreset') || text.includes('socket hang up')) return 'reset';
  return 'other';
}
