// Counts requests in flight so SIGTERM can stop accepting, let them finish, then exit.

/** In-flight bookkeeping shared by a proxy's listeners. */
export class Drain {
  #inflight = 0;
  #draining = false;
  #waiters: (() => void)[] = [];

  get inflight(): number {
    return this.#inflight;
  }

  /** True once shutdown began: listeners close connections as requests finish. */
  get draining(): boolean {
    return this.#draining;
  }

  begin(): void {
    this.#inflight += 1;
  }

  end(): void {
    this.#inflight -= 1;
    if (this.#inflight <= 0 && this.#draining) this.#wake();
  }

  /** Starts draining; resolves true when nothing is in flight, false when the grace ran out. */
  drain(graceMs: number): Promise<boolean> {
    this.#draining = true;
    if (this.#inflight <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
