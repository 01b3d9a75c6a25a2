// Local mode's identity: the proxy signs its own leaf with the issuer in the local CA directory
// (what `weft ca` does in a cluster), keeps the key in memory and renews on schedule.
import { readCaDir } from '../../lib/pki/ca-dir.js';
import { issueLocalMaterial } from '../../lib/pki/local-material.js';
import { RenewalScheduler } from './renewal.js';
import { WeftError } from '../../lib/errors.js';
import { realTimers, type Timers } from '../../lib/timers.js';
import type { IdentityProvider, TlsMaterial } from './identity-provider.js';
import type { Logger } from '../../lib/logger.js';

/** Options of the local identity provider. */
export interface LocalIdentityOptions {
  readonly caDir: string;
  readonly identity: string;
  readonly lifetimeHours: number;
  readonly log: Logger;
  /** Clock of issuing and renewal timers (fake in tests). */
  readonly timers?: Timers;
  readonly random?: () => number;
}

/** Issues and renews the proxy's certificate from a CA directory. */
export class LocalIdentityProvider implements IdentityProvider {
  readonly #opts: LocalIdentityOptions;
  readonly #listeners: ((m: TlsMaterial) => void)[] = [];
  readonly #timers: Timers;
  readonly #scheduler: RenewalScheduler;
  #material: TlsMaterial | undefined;

  constructor(opts: LocalIdentityOptions) {
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#scheduler = new RenewalScheduler({
      obtain: () => this.#issue(),
      onMaterial: (material) => {
        this.#material = material;
        this.#opts.log.info({ identity: material.identity, notAfter: material.notAfter.toISOString() }, 'certificate issued');
        for (const listener of this.#listeners) listener(material);
      },
      onFailure: (err, attempt, retryInMs) =>
        this.#opts.log.error({ err: (err as Error).message, attempt, retryInMs }, 'certificate renewal failed; retrying'),
      timers: this.#timers,
      random: opts.random ?? Math.random,
    });
  }

  current(): TlsMaterial | undefined {
    return this.#material;
  }

  onChange(listener: (material: TlsMaterial) => void): void {
    this.#listeners.push(listener);
  }

  /** Issues the first certificate; a missing or bad CA directory fails the start (no retry). */
  async start(): Promise<void> {
    await this.#scheduler.start(false);
  }

  async #issue(): Promise<TlsMaterial> {
    const pem = await readCaDir(this.#opts.caDir);
    if (!pem) throw new WeftError('WEFT_ERR_CA_MATERIAL', `CA directory ${this.#opts.caDir} is empty; run \`weft up\` or create it`);
    return issueLocalMaterial({
      pem,
      identity: this.#opts.identity,
      now: new Date(this.#timers.now()),
      lifetimeHours: this.#opts.lifetimeHours,
    });
  }

  close(): void {
    this.#scheduler.close();
  }
}
