// Test PKI made at test time (never checked in): an authority and leaves for any identity,
// including the bad ones tests need (expired, other root, no identity).
import { createIssuer, createRoot, type Authority } from '../../lib/pki/authority.js';
import { issueMaterial } from '../../lib/pki/leaf.js';
import type { TlsMaterial } from '../../mesh/identity/identity-provider.js';

/** An authority plus a shortcut to issue leaves from it. */
export interface TestPki {
  readonly authority: Authority;
  leaf(identity: string, opts?: { now?: Date; lifetimeHours?: number }): Promise<TlsMaterial>;
}

/** A fresh root and issuer for `trustDomain`. */
export async function makeTestPki(trustDomain = 'cluster.local'): Promise<TestPki> {
  const now = new Date();
  const root = await createRoot({ trustDomain, now, lifetimeHours: 48 });
  const issuer = await createIssuer({ root, trustDomain, now, lifetimeHours: 47 });
  const authority: Authority = { root: root.cert, issuer };
  return {
    authority,
    leaf: (identity, opts = {}) =>
      issueMaterial({
        authority,
        identity,
        now: opts.now ?? new Date(),
        ...(opts.lifetimeHours === undefined ? {} : { lifetimeHours: opts.lifetimeHours }),
      }),
  };
}
