// The contract between the TLS listeners and wherever the pod's certificate comes from
// (the local CA directory, or `weft ca` in kubernetes mode).

/** The pod's TLS material at one moment. Replaced whole on renewal. */
export interface TlsMaterial {
  /** The pod's identity (the leaf's URI SAN). */
  readonly identity: string;
  /** PKCS#8 PEM private key; it never leaves the process. */
  readonly keyPem: string;
  /** Leaf then issuer, PEM. */
  readonly certChainPem: string;
  /** Trust anchors (roots), PEM. */
  readonly trustBundlePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Supplies and renews the pod's certificate. */
export interface IdentityProvider {
  /** The current material, or undefined before the first certificate (the proxy is not ready). */
  current(): TlsMaterial | undefined;
  /** Called with each new material after a renewal, so listeners swap their secure context. */
  onChange(listener: (material: TlsMaterial) => void): void;
  /** Obtains the first certificate and schedules renewals; resolves once the first is held. */
  start(): Promise<void>;
  /** Cancels renewals. */
  close(): void;
}
