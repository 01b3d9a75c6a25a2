// Whether the pod's own certificate lets it take traffic, for the proxy's and the gateway's
// /ready: none yet, not yet valid, expired, or naming another identity than the one this process
// is configured as (its token proved another service account) all make it not ready.
import { ReadinessWatch, nextValidityChangeMs, validityProblem, type Judgement } from '../../lib/pki/validity.js';
import type { Logger } from '../../lib/logger.js';
import type { Timers } from '../../lib/timers.js';
import type { IdentityProvider, TlsMaterial } from './identity-provider.js';

/** The reason given before the first certificate (kept as it was: probes and docs quote it). */
export const NO_CERTIFICATE_YET = 'no certificate yet';

/**
 * Judges the leaf at `nowMs` (pure): the reason it cannot serve and when that can next change.
 * `expectedIdentity` is the identity the settings name (WEFT_POD_NAMESPACE, WEFT_SERVICE_ACCOUNT,
 * WEFT_TRUST_DOMAIN); the leaf carries the one `weft ca` signed, which is what the pod's token
 * proves, so a difference means the token and the settings disagree and peers would refuse it.
 */
export function judgeLeaf(material: TlsMaterial | undefined, expectedIdentity: string, nowMs: number): Judgement {
  if (!material) return { reason: NO_CERTIFICATE_YET, nextChangeMs: undefined };
  if (material.identity !== expectedIdentity) {
    return {
      reason: `certificate names ${material.identity} but this process is ${expectedIdentity}: its token proves another service account than its settings name`,
      nextChangeMs: undefined,
    };
  }
  return { reason: validityProblem('certificate', material, nowMs), nextChangeMs: nextValidityChangeMs(material, nowMs) };
}

/** Options of a leaf readiness watch. */
export interface LeafReadinessOptions {
  readonly identity: IdentityProvider;
  readonly expectedIdentity: string;
  readonly timers: Timers;
  readonly log: Logger;
}

/** The leaf's part of /ready, re-judged at expiry by a timer and on every renewal; logged once per change. */
export class LeafReadiness {
  readonly #watch: ReadinessWatch;

  constructor(opts: LeafReadinessOptions) {
    this.#watch = new ReadinessWatch({
      judge: (now) => judgeLeaf(opts.identity.current(), opts.expectedIdentity, now),
      timers: opts.timers,
      onChange: (reason, previous) => {
        const notAfter = opts.identity.current()?.notAfter.toISOString();
        // The wait for the first certificate is the normal start, not a warning.
        if (reason === NO_CERTIFICATE_YET) opts.log.info({ reason }, `not ready: ${reason}`);
        else if (reason) opts.log.warn({ reason, notAfter, code: 'WEFT_ERR_NOT_READY' }, `not ready: ${reason}`);
        // The first certificate is logged as received by its provider; only a recovery is news here.
        else if (previous && previous !== NO_CERTIFICATE_YET) opts.log.info({ was: previous, notAfter }, 'certificate valid again; ready as far as identity goes');
      },
    });
    opts.identity.onChange(() => this.#watch.refresh());
    this.#watch.refresh();
  }

  /** The reason the leaf keeps this process from being ready, or undefined. */
  reason(): string | undefined {
    return this.#watch.reason();
  }

  /** Stops the expiry timer. */
  close(): void {
    this.#watch.close();
  }
}
