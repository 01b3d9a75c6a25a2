// Local mode's identity: the proxy signs its own leaf with the issuer in the local CA directory
// (what `weft ca` does in a cluster), keeps the key in memory and renews on schedule.
import { authorityFromPem } from '../../lib/pki/store.js';
import { readCaDir } from '../../lib/pki/store.js';
import { issueMaterial } from '../../lib/pki/leaf.js';
import { renewalDelayMs, retryDelayMs } from './renewal.js';
import { WeftError } from '../../lib/errors.js';
import type { IdentityProvider, TlsMaterial } from './identity-provider.js';
import type { Logger } from '../../lib/logger.js';

/** Options of the local identity provider. */
export interface LocalIdentityOptions {
  readonly caDir: string;
  readonly identity: string;
  readonly lifetimeHours: number;
  readonly log: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Issues and renews the proxy's certificate from a CA directory. */
export class LocalIdentityProvider implements IdentityProvider {
  readonly #opts: LocalIdentityOptions;
  readonly #listeners: ((m: TlsMaterial) => void)[] = [];
  #material: TlsMaterial | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: LocalIdentityOptions) {
    this.#opts = opts;
  }

  current(): TlsMaterial | undefined {
    return this.#material;
  }

  onChange(listener: (material: TlsMaterial) => void): void {
    this.#listeners.push(listener);
  }

  async start(): Promise<void> {
    await this.#issue();
  }

  async #issue(): Promise<void> {
    const now = this.#opts.now ?? Date.now;
    const pem = await readCaDir(this.#opts.caDir);
    if (!pem) throw new WeftError('WEFT_ERR_CA_MATERIAL', `CA directory ${this.#opts.caDir} is empty; run \`weft up\` or create it`);
    const material = await issueMaterial({
      authority: await authorityFromPem(pem),
      identity: this.#opts.identity,
      now: new Date(now()),
      lifetimeHours: this.#opts.lifetimeHours,
    });
    this.#material = material;
    this.#opts.log.info({ identity: material.identity, notAfter: material.notAfter.toISOString() }, 'certificate issued');
    for (const listener of this.#listeners) listener(material);
    this.#schedule(renewalDelayMs(material.notBefore, material.notAfter, now(), this.#opts.random ?? Math.random), 0);
  }

  #schedule(delayMs: number, attempt: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#issue().catch((err: unknown) => {
        const next = attempt + 1;
        this.#opts.log.error({ err: (err as Error).message, attempt: next }, 'certificate renewal failed; retrying');
        this.#schedule(retryDelayMs(next, this.#opts.random ?? Math.random), next);
      });
    }, Math.min(delayMs, 2 ** 31 - 1));
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}
