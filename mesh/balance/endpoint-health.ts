// What the picker knows about an endpoint beyond its load: a Peak-EWMA of its latency (as
// linkerd2-proxy's balancer keeps) and failure accrual with exponentially growing ejections, a
// single probe request after each, and a panic threshold so a service is never left with nothing.
// Pure: the clock is passed in, so fake timers drive every transition in the unit tests.
import type { Endpoint } from '../discovery/endpoint-source.js';

/** How the balancer scores latency and ejects failing endpoints. */
export interface BalanceOptions {
  /** Monotonic clock in ms (performance.now in production, a fake clock in tests). */
  readonly now: () => number;
  /** Score endpoints by Peak-EWMA latency times their outstanding requests (else by load alone). */
  readonly ewma: boolean;
  /** Time constant of the EWMA's decay, in ms: an old peak fades over about this long. */
  readonly decayMs: number;
  /** Latency assumed for an endpoint that has answered nothing yet, in ms. */
  readonly defaultRttMs: number;
  /** Consecutive failures that eject an endpoint (0: failure accrual off). */
  readonly failureThreshold: number;
  /** First ejection time, in ms; each further ejection in a row doubles it. */
  readonly ejectionBaseMs: number;
  /** The longest ejection, in ms. */
  readonly ejectionMaxMs: number;
  /** Below this percentage of available endpoints, ejections are ignored (Envoy's panic mode). */
  readonly panicPercent: number;
  /** Told of every ejection (metrics, logs). */
  readonly onEject?: (endpoint: Endpoint, durationMs: number) => void;
}

/** Load and failure balancing as Linkerd and Envoy default to; `now` is the caller's clock. */
export function defaultBalanceOptions(now: () => number): BalanceOptions {
  // linkerd2-proxy's default RTT (30 ms) and decay (10 s); Envoy's 5 consecutive 5xx; Linkerd's
  // failure-accrual backoff (1 s doubling up to 1 min); Envoy's 50 % panic threshold.
  return { now, ewma: true, decayMs: 10_000, defaultRttMs: 30, failureThreshold: 5, ejectionBaseMs: 1_000, ejectionMaxMs: 60_000, panicPercent: 50 };
}

/** Per-service health shared by the successive pickers of one service. */
export class ServiceHealth {
  /** Endpoints ejected right now (ejection times may have run out: they await their probe). */
  ejected = 0;
  /** Ready endpoints of the newest picker. */
  size = 0;
}

/** The fields of an endpoint's live state that this module reads and writes. */
export interface HealthState {
  outstanding: number;
  /** Peak-EWMA latency in ms (-1: no sample yet). */
  rttMs: number;
  /** When rttMs was last updated. */
  rttAtMs: number;
  /** The first answer was seen (it carries the connection's handshake, so it is not sampled). */
  warm: boolean;
  /** Failures since the last success. */
  failures: number;
  /** Ejections in a row (reset after a calm ejectionMaxMs); sets the next ejection's length. */
  ejections: number;
  /** Ejected until this time (0: not ejected). */
  ejectedUntilMs: number;
  /** When the last ejection began. */
  ejectedAtMs: number;
  /** A probe request is in flight. */
  probing: boolean;
}

/** The decayed Peak-EWMA latency of an endpoint at `nowMs`. */
export function rttAt(state: HealthState, opts: BalanceOptions, nowMs: number): number {
  if (state.rttMs < 0) return opts.defaultRttMs;
  const elapsed = nowMs - state.rttAtMs;
  // Decays toward zero while no answer arrives, so an endpoint once slow is tried again.
  return elapsed > 0 ? state.rttMs * Math.exp(-elapsed / opts.decayMs) : state.rttMs;
}

/**
 * The cost P2C compares: latency times (outstanding + 1), linkerd2-proxy's Peak-EWMA load. An
 * endpoint that has not answered yet costs nothing while idle, so it is tried at once (with the
 * default latency it would lose to every measured one and never be measured itself).
 */
export function costOf(state: HealthState, opts: BalanceOptions, nowMs: number): number {
  if (state.rttMs < 0 && state.outstanding === 0) return 0;
  return rttAt(state, opts, nowMs) * (state.outstanding + 1);
}

/** Folds a latency sample in: a higher one is taken at once (the peak), a lower one is averaged. */
export function observeLatency(state: HealthState, opts: BalanceOptions, nowMs: number, sampleMs: number): void {
  if (!state.warm) {
    // A first request pays for the TLS handshake (and a cold start): as a peak it would keep the
    // endpoint out for many seconds of sequential traffic.
    state.warm = true;
    return;
  }
  const current = state.rttMs < 0 ? -1 : rttAt(state, opts, nowMs);
  if (sampleMs > current) {
    state.rttMs = sampleMs;
  } else {
    const w = Math.exp(-Math.max(0, nowMs - state.rttAtMs) / opts.decayMs);
    state.rttMs = current * w + sampleMs * (1 - w);
  }
  state.rttAtMs = nowMs;
}

// Costs this close count as equal: below it, latency differences are scheduling noise, and
// steering by them would bunch sequential requests onto whichever endpoint was luckiest.
const TIE_RATIO = 0.25;
const TIE_MS = 5;

/** Which of two costs wins: -1 the first, 1 the second, 0 a tie (the caller decides by load). */
export function compareCosts(a: number, b: number): number {
  const diff = a - b;
  if (Math.abs(diff) <= Math.max(TIE_MS, TIE_RATIO * Math.max(a, b))) return 0;
  return diff < 0 ? -1 : 1;
}

/** True while the endpoint must get no ordinary request (ejected, or its one probe in flight). */
export function isEjected(state: HealthState): boolean {
  return state.ejectedUntilMs !== 0;
}

/** True when the endpoint's ejection has run out and no probe is in flight: the next pick probes it. */
export function awaitsProbe(state: HealthState, nowMs: number): boolean {
  return state.ejectedUntilMs !== 0 && !state.probing && nowMs >= state.ejectedUntilMs;
}

/** True when ejections should be ignored: fewer than panicPercent % of `size` endpoints are available. */
export function inPanic(available: number, size: number, opts: BalanceOptions): boolean {
  return available * 100 < opts.panicPercent * size;
}

/**
 * Records how a request ended. A failure (a mesh error or a 5xx) counts toward ejection; a
 * success resets the count. The probe's answer ends the ejection or renews it, longer; answers
 * of requests sent before the ejection change nothing. Returns the ejection time when this
 * outcome ejected the endpoint (0 otherwise).
 */
export function observeOutcome(state: HealthState, health: ServiceHealth, opts: BalanceOptions, nowMs: number, failure: boolean, probe: boolean): number {
  if (opts.failureThreshold <= 0) return 0;
  if (probe) {
    state.probing = false;
    if (!failure) {
      state.ejectedUntilMs = 0;
      state.failures = 0;
      if (health.ejected > 0) health.ejected -= 1;
      return 0;
    }
    return eject(state, opts, nowMs);
  }
  if (isEjected(state)) return 0;
  if (!failure) {
    state.failures = 0;
    return 0;
  }
  state.failures += 1;
  // Never the last one: an ejection that would leave nothing available is not made.
  if (state.failures < opts.failureThreshold || health.ejected + 1 >= health.size) return 0;
  health.ejected += 1;
  return eject(state, opts, nowMs);
}

function eject(state: HealthState, opts: BalanceOptions, nowMs: number): number {
  // A calm spell as long as the longest ejection starts the doubling over.
  if (state.ejectedAtMs !== 0 && nowMs - state.ejectedAtMs > opts.ejectionMaxMs * 2) state.ejections = 0;
  const ms = Math.min(opts.ejectionMaxMs, opts.ejectionBaseMs * 2 ** Math.min(state.ejections, 30));
  state.ejections += 1;
  state.ejectedAtMs = nowMs;
  state.ejectedUntilMs = nowMs + ms;
  return ms;
}
