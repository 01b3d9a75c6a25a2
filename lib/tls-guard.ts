// Bounds the TLS handshakes of one listener: a connection whose handshake has not finished in
// time is destroyed, handshakes in progress are capped, and failures are counted by reason and
// logged as one summary line per interval instead of one line per connection.
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { durationMs, int, setting } from './config.js';
import type { Logger } from './logger.js';
import type { TimerHandle, Timers } from './timers.js';

/**
 * Pending handshakes a sidecar or the injector allows at once by default. A handshake
 * between pods takes milliseconds, so legitimate ones rarely number more than a few dozen; the
 * cap is what bounds memory (a pending TLS connection cost about 45 KB in Node in
 * test/e2e/handshake-bounds.test.ts, most of it kept after the connection is gone).
 */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 256;

/** The two settings every TLS listener takes; the cap's default is per component. */
export function handshakeSettings(maxPendingDefault: number) {
  return {
    handshakeTimeoutMs: setting({
      name: 'WEFT_TLS_HANDSHAKE_TIMEOUT_MS',
      type: durationMs({ min: 50 }),
      default: 10_000,
      doc: 'a TLS connection whose handshake has not finished by then is destroyed',
    }),
    maxPendingHandshakes: setting({
      name: 'WEFT_TLS_MAX_PENDING_HANDSHAKES',
      type: int({ min: 1 }),
      default: maxPendingDefault,
      doc: 'TLS handshakes in progress at once on the listener; beyond it a new connection is closed at once',
    }),
  } as const;
}

/** The settings with the sidecar's defaults (the proxy, the CA and the injector use these). */
export const HANDSHAKE_SETTINGS = handshakeSettings(DEFAULT_MAX_PENDING_HANDSHAKES);

/** The bounds of one listener. */
export interface HandshakeBounds {
  /** Destroy a connection whose handshake has not finished after this long. */
  readonly handshakeTimeoutMs: number;
  /** Close new connections at once while this many handshakes are in progress. */
  readonly maxPendingHandshakes: number;
}

/** The defaults of HANDSHAKE_SETTINGS, for listeners started without settings (tests, `weft up`). */
export const DEFAULT_HANDSHAKE_BOUNDS: HandshakeBounds = Object.freeze({
  handshakeTimeoutMs: HANDSHAKE_SETTINGS.handshakeTimeoutMs.default,
  maxPendingHandshakes: HANDSHAKE_SETTINGS.maxPendingHandshakes.default,
});

/** How long a window of failures is gathered before its one summary line. */
export const DEFAULT_SUMMARY_INTERVAL_MS = 30_000;

/** Failure reasons the guard itself decides. */
export const GUARD_REASONS = { timeout: 'handshake_timeout', overCapacity: 'too_many_handshakes' } as const;

/** The counts of one summary window: reason -> failures. */
export type FailureCounts = Readonly<Record<string, number>>;

/**
 * The pure part: counts failures and says when a summary is due. A window opens at the first
 * failure after a quiet spell and closes `intervalMs` later with one summary of everything in it.
 */
export class FailureWindow {
  readonly #intervalMs: number;
  #counts = new Map<string, number>();
  #openedAt: number | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Counts one failure; returns the delay after which `close` is due when this opened a window. */
  add(reason: string, now: number): number | undefined {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
    if (this.#openedAt !== undefined) return undefined;
    this.#openedAt = now;
    return this.#intervalMs;
  }

  /** Ends the window: its counts and length, or undefined when nothing failed. */
  close(now: number): { counts: FailureCounts; total: number; windowMs: number } | undefined {
    if (this.#openedAt === undefined) return undefined;
    const counts: Record<string, number> = {};
    let total = 0;
    for (const [reason, n] of this.#counts) {
      counts[reason] = n;
      total += n;
    }
    const windowMs = now - this.#openedAt;
    this.#counts = new Map();
    this.#openedAt = undefined;
    return { counts, total, windowMs };
  }
}

/** What the guard needs from its listener's owner. */
export interface HandshakeGuardOptions extends HandshakeBounds {
  /** Names the listener in the summary line (`inbound`, `https`, `ca`, `injector`). */
  readonly listener: string;
  readonly timers: Timers;
  readonly log: Logger;
  /** Counts a failure in the owner's metric (e.g. weft_tls_handshake_failures_total). */
  readonly onFailure: (reason: string) => void;
  /** Names a failed handshake's error (default: its code, lower-cased). */
  readonly classify?: (err: Error & { code?: string }) => string;
  readonly summaryIntervalMs?: number;
}

/** A guard installed on a listener. */
export interface HandshakeGuard {
  /** Handshakes in progress right now. */
  readonly pending: number;
  /** Logs what the open window holds and stops summarizing; pending handshakes stay bounded. */
  close(): void;
}

/** Pending handshakes carry their timer on the raw socket. */
interface Pending {
  readonly timer: TimerHandle;
}

/** The raw TCP socket under a server-side TLSSocket (Node keeps it as `_parent`). */
function rawOf(socket: TLSSocket): Socket | undefined {
  return (socket as TLSSocket & { _parent?: Socket | null })._parent ?? undefined;
}

function defaultClassify(err: Error & { code?: string }): string {
  return (err.code ?? 'tls_error').replace(/^ERR_SSL_|^ERR_TLS_/, '').toLowerCase();
}

/**
 * Installs the bounds on a TLS server (tls, https or http2 secure): it watches each raw
 * connection from accept to the end of its handshake, and owns the server's `tlsClientError`
 * accounting (the owner logs nothing per failure).
 */
export function guardHandshakes(server: TlsServer, opts: HandshakeGuardOptions): HandshakeGuard {
  const pending = new Map<Socket, Pending>();
  // Sockets the guard destroyed: their own reset error is not a second failure.
  const destroyed = new WeakSet<Socket>();
  const window = new FailureWindow(opts.summaryIntervalMs ?? DEFAULT_SUMMARY_INTERVAL_MS);
  const classify = opts.classify ?? defaultClassify;
  let summaryTimer: TimerHandle | undefined;
  let closed = false;

  const summarize = (): void => {
    summaryTimer = undefined;
    const summary = window.close(opts.timers.now());
    if (!summary) return;
    opts.log.warn(
      { listener: opts.listener, failures: summary.counts, total: summary.total, windowMs: summary.windowMs, pending: pending.size },
      'TLS handshakes failed (summary)',
    );
  };
  const fail = (reason: string): void => {
    opts.onFailure(reason);
    const due = window.add(reason, opts.timers.now());
    if (due !== undefined && !closed) {
      summaryTimer = opts.timers.setTimeout(summarize, due);
      summaryTimer.unref();
    }
  };
  // At the cap, net.Server's own maxConnections refuses new connections at accept, before
  // anything is allocated for them; below it, the owner's limit (normally none) is back.
  const ownLimit = server.maxConnections;
  const openConnections = (): number => (server as unknown as { _connections?: number })._connections ?? 0;
  const settle = (raw: Socket): void => {
    const entry = pending.get(raw);
    if (!entry) return;
    pending.delete(raw);
    opts.timers.clearTimeout(entry.timer);
    if (pending.size < opts.maxPendingHandshakes) server.maxConnections = ownLimit;
  };

  // Runs after the TLS server's own listener has wrapped the raw socket. The check is exact;
  // maxConnections (below) is the cheap path, and lets one through when another connection closes.
  server.on('connection', (raw: Socket) => {
    if (pending.size >= opts.maxPendingHandshakes) {
      destroyed.add(raw);
      raw.destroy();
      fail(GUARD_REASONS.overCapacity);
      return;
    }
    const timer = opts.timers.setTimeout(() => {
      if (!pending.has(raw)) return;
      settle(raw);
      destroyed.add(raw);
      raw.destroy();
      fail(GUARD_REASONS.timeout);
    }, opts.handshakeTimeoutMs);
    timer.unref();
    pending.set(raw, { timer });
    raw.once('close', () => settle(raw));
    if (pending.size >= opts.maxPendingHandshakes) server.maxConnections = openConnections();
  });
  server.on('drop', () => fail(GUARD_REASONS.overCapacity));
  server.on('secureConnection', (socket: TLSSocket) => {
    const raw = rawOf(socket);
    if (raw) settle(raw);
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const raw = rawOf(socket);
    if (raw) settle(raw);
    socket.destroy();
    if (raw && destroyed.has(raw)) return;
    fail(classify(err));
  });

  return {
    get pending() {
      return pending.size;
    },
    close() {
      closed = true;
      opts.timers.clearTimeout(summaryTimer);
      summarize();
    },
  };
}
