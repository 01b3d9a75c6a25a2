// The contract between the TLS listeners and wherever the pod's certificate comes from
// (the local CA directory, or `weft ca` in kubernetes mode).

import type { TlsMaterial } from '../../lib/identity.js';

export type { TlsMaterial };

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
