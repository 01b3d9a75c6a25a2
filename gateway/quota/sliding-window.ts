// Sliding-window quota counting in one process (the `local` backend). Each window of length T is
// kept as K+1 buckets of width b (K*b >= T); a request is admitted only when the buckets covering
// [now - T, now] hold fewer than the limit, so no span of length T ever holds more than the limit,
// at a window edge or anywhere else (a fixed window lets 2x through there; GCRA with a burst of
// the limit lets almost 2x through in one T). The price: a slot frees up to one bucket late.
import type { QuotaWindow } from '../consumers/directory.js';

/** Buckets per window: a slot is freed at most T/50 later than an exact log would free it (50 divides every named window). */
export const BUCKETS_PER_WINDOW = 50;

/** One window's verdict. */
export interface WindowState {
  readonly window: QuotaWindow;
  /** Requests left in this window after this one (0 when refused). */
  readonly remaining: number;
  /** Seconds until at least one more request fits (RateLimit-Reset; Retry-After when refused). */
  readonly resetSeconds: number;
}

/** The outcome of one take() across every window of a plan. */
export interface QuotaDecision {
  readonly allowed: boolean;
  /** Per window, shortest first. */
  readonly windows: readonly WindowState[];
  /** The window with the fewest requests left (the refusing one when refused). */
  readonly tightest: WindowState;
}

/** Bucket width and count of a window. */
export function bucketsOf(windowMs: number): { readonly widthMs: number; readonly count: number } {
  const widthMs = Math.max(1, Math.ceil(windowMs / BUCKETS_PER_WINDOW));
  return { widthMs, count: Math.ceil(windowMs / widthMs) };
}

/**
 * The window's verdict from the bucket counts it holds (bucket number -> count); pure, and the
 * same arithmetic the Redis script does: `held` requests in the last K+1 buckets; when a slot
 * frees, found by letting the oldest buckets expire one by one.
 */
export function judgeWindow(w: QuotaWindow, counts: ReadonlyMap<number, number>, nowMs: number): { readonly held: number; readonly resetSeconds: number } {
  const { widthMs, count } = bucketsOf(w.windowMs);
  const current = Math.floor(nowMs / widthMs);
  const oldest = current - count;
  // Only non-empty buckets are stored, in the order they were first counted (oldest first).
  let held = 0;
  for (const [b, c] of counts) if (b >= oldest && b <= current) held += c;
  // Bucket i stops counting at the start of bucket i + K + 1. Below the limit: when the oldest
  // request held stops counting; at it: when enough have stopped counting for one more to fit.
  let need = held < w.requests ? 1 : held - w.requests + 1;
  let freeAt = nowMs + w.windowMs;
  for (const [b, c] of counts) {
    if (need <= 0) break;
    if (b < oldest || b > current || c === 0) continue;
    need -= c;
    freeAt = (b + count + 1) * widthMs;
  }
  return { held, resetSeconds: Math.max(1, Math.ceil((freeAt - nowMs) / 1000)) };
}

/**
 * The verdict of every window from its bucket counts before this request (pure; the Redis
 * backend judges the counts its script returns with the same function): allowed when every window
 * holds fewer than its limit; the refusing window is the first full one, shortest first.
 */
export function decide(windows: readonly QuotaWindow[], counts: readonly ReadonlyMap<number, number>[], nowMs: number): QuotaDecision {
  const states: WindowState[] = [];
  let refusing: WindowState | undefined;
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i] as QuotaWindow;
    const { held, resetSeconds } = judgeWindow(w, counts[i] ?? new Map<number, number>(), nowMs);
    const ok = held < w.requests;
    const s: WindowState = { window: w, remaining: ok ? w.requests - held - 1 : 0, resetSeconds };
    if (!ok && !refusing) refusing = s;
    states.push(s);
  }
  return { allowed: refusing === undefined, windows: states, tightest: refusing ?? tightestOf(states) };
}

interface KeyWindows {
  /** One map per window of the plan, bucket number -> count. */
  readonly buckets: Map<number, number>[];
  lastMs: number;
}

/**
 * Counts requests per key across several windows at once. take() checks every window and counts
 * in all of them only when all admit, in one synchronous step: concurrent requests on one event
 * loop can never both take the last slot, and a refused request uses up nothing.
 */
export class SlidingWindowQuota {
  readonly #keys = new Map<string, KeyWindows>();
  #lastSweep = 0;

  /** Takes one request for `key` in every window (windows shortest first). */
  take(key: string, windows: readonly QuotaWindow[], nowMs: number): QuotaDecision {
    let k = this.#keys.get(key);
    if (!k || k.buckets.length !== windows.length) {
      k = { buckets: windows.map(() => new Map<number, number>()), lastMs: nowMs };
      this.#keys.set(key, k);
    }
    k.lastMs = nowMs;
    for (let i = 0; i < windows.length; i++) prune(k.buckets[i] as Map<number, number>, windows[i] as QuotaWindow, nowMs);
    const d = decide(windows, k.buckets, nowMs);
    const allowed = d.allowed;
    if (allowed) {
      for (let i = 0; i < windows.length; i++) {
        const counts = k.buckets[i] as Map<number, number>;
        const b = Math.floor(nowMs / bucketsOf((windows[i] as QuotaWindow).windowMs).widthMs);
        counts.set(b, (counts.get(b) ?? 0) + 1);
      }
    }
    this.#sweep(nowMs);
    return d;
  }

  /** What `key` has used in each window now, without taking (usage reports). */
  peek(key: string, windows: readonly QuotaWindow[], nowMs: number): readonly number[] {
    const k = this.#keys.get(key);
    return windows.map((w, i) => (k?.buckets[i] ? judgeWindow(w, k.buckets[i], nowMs).held : 0));
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.#keys.size;
  }

  // Keys idle longer than a month (the longest window) are dropped now and then.
  #sweep(nowMs: number): void {
    if (nowMs - this.#lastSweep < 60_000) return;
    this.#lastSweep = nowMs;
    for (const [key, k] of this.#keys) if (nowMs - k.lastMs > 31 * 86_400_000) this.#keys.delete(key);
  }
}

/** The window with the fewest requests left; the first (shortest) when tied. */
export function tightestOf(states: readonly WindowState[]): WindowState {
  let best = states[0] as WindowState;
  for (const s of states) if (s.remaining < best.remaining) best = s;
  return best;
}

// Buckets that no longer count are dropped, so a key holds at most K+1 per window.
function prune(counts: Map<number, number>, w: QuotaWindow, nowMs: number): void {
  if (counts.size <= bucketsOf(w.windowMs).count + 1) return;
  const { widthMs, count } = bucketsOf(w.windowMs);
  const oldest = Math.floor(nowMs / widthMs) - count;
  for (const b of counts.keys()) if (b < oldest) counts.delete(b);
}
