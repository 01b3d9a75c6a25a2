// A fake clock for unit tests of anything that takes `Timers`: time moves only when the test
// advances it, and a test can wait for the event "a timer was scheduled" instead of sleeping.
import type { TimerHandle, Timers } from '../../lib/timers.js';

interface Pending {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/** A scheduled timer as a test sees it. */
export interface ScheduledTimer {
  /** Its delay as asked for. */
  readonly delayMs: number;
  /** When it is due on the fake clock. */
  readonly at: number;
}

/** Fake `Timers`: a clock that moves only by advance(), and timers fired by it. */
export class FakeTimers implements Timers {
  #now: number;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #handles = new WeakMap<TimerHandle, number>();
  #waiters: { match: (t: ScheduledTimer) => boolean; resolve: (t: ScheduledTimer) => void }[] = [];
  /** Every timer ever scheduled, in order (a test can assert on the delays asked for). */
  readonly scheduled: ScheduledTimer[] = [];

  constructor(startMs = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    const delayMs = Math.max(0, ms);
    const entry: Pending = { id, at: this.#now + delayMs, fn };
    this.#pending.set(id, entry);
    const handle: TimerHandle = { unref: () => undefined };
    this.#handles.set(handle, id);
    const scheduled = { delayMs, at: entry.at };
    this.scheduled.push(scheduled);
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const w of waiting) {
      if (w.match(scheduled)) w.resolve(scheduled);
      else this.#waiters.push(w);
    }
    return handle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    const id = this.#handles.get(handle);
    if (id !== undefined) this.#pending.delete(id);
  }

  /** How many timers are pending. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Delays from now of the pending timers, soonest first. */
  pendingDelays(): number[] {
    return [...this.#pending.values()].map((p) => p.at - this.#now).sort((a, b) => a - b);
  }

  /** Resolves with the next timer scheduled from now on that matches (any, by default). */
  nextScheduled(match: (t: ScheduledTimer) => boolean = () => true): Promise<ScheduledTimer> {
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /**
   * Moves the clock forward by `ms`, firing the timers that fall due in time order (each at its
   * own time), and letting promise callbacks and I/O callbacks run after each.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      const due = [...this.#pending.values()].filter((p) => p.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#pending.delete(due.id);
      this.#now = due.at;
      due.fn();
      await settle();
    }
    this.#now = until;
    await settle();
  }
}

/** Lets pending promise callbacks and one round of I/O callbacks run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A seeded uniform [0, 1) source (mulberry32), so jittered tests are repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
