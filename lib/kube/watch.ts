// Keeps a local copy of a set of API objects, as client-go's reflector does: a paginated list,
// then a watch from the list's resourceVersion with bookmarks; 410 Expired re-lists and replaces
// the whole set; a broken, hung or silent stream is resumed from the last resourceVersion; every
// retry waits weft's one capped, jittered backoff (lib/backoff.ts, reset only by a healthy
// stream) and never less than a Retry-After; a kind the server does not serve is an empty set.
// Every wait and bound runs on the caller's timers. (@kubernetes/client-node's informer never asks
// for bookmarks and stops for good on a network error, hence this loop.) The decisions
// (interpreting an event, applying a change, planning a retry) are pure functions.
import type { Counter } from 'prom-client';
import type { Logger } from '../logger.js';
import { isWeftError } from '../errors.js';
import { backoffDelayMs, type BackoffPolicy } from '../backoff.js';
import { realTimers, sleep, type TimerHandle, type Timers } from '../timers.js';
import { KubeApiError, type KubeClient, type RawWatchEvent } from './client.js';
import { planRetry, type WatchOutcome } from './watch-retry.js';

/** The fields of an API object the watch loop reads. */
export interface KubeObjectMeta {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly uid?: string;
  };
}

/** What the consumer receives: a full replacement after a list, or one change. */
export type WatchChange<T> =
  | { readonly kind: 'replace'; readonly objects: readonly T[] }
  | { readonly kind: 'upsert'; readonly object: T }
  | { readonly kind: 'delete'; readonly object: T };

/**
 * client-go's reflector starts at 800 ms and caps at 30 s; weft reacts faster at first. The floor
 * of half the ceiling bounds re-lists whatever the random draws: at most 10 lists in any 10 s.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 30_000, minFraction: 0.5 };

/** Bounds of the loop's requests; see WatchLoopOptions for each. */
export const WATCH_DEFAULTS = Object.freeze({
  headersTimeoutMs: 15_000,
  bookmarkIntervalMs: 60_000,
  healthyWatchMs: 5_000,
  pageSize: 500,
  watchTimeoutSeconds: 300,
  absentRecheckMs: 60_000,
});

/** namespace/name: the key of an object in a cache. */
export function objectKey(obj: KubeObjectMeta): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** Applies a change to a cache, returning a new map (the old one is not touched). */
export function applyWatchChange<T extends KubeObjectMeta>(state: ReadonlyMap<string, T>, change: WatchChange<T>): Map<string, T> {
  switch (change.kind) {
    case 'replace':
      return new Map(change.objects.map((o) => [objectKey(o), o]));
    case 'upsert': {
      const next = new Map(state);
      next.set(objectKey(change.object), change.object);
      return next;
    }
    case 'delete': {
      const next = new Map(state);
      next.delete(objectKey(change.object));
      return next;
    }
  }
}

/** What to do with one watch event: emit a change, move the resourceVersion, re-list, or fail. */
export type WatchStep<T> =
  | { readonly action: 'emit'; readonly change: WatchChange<T>; readonly resourceVersion: string | undefined }
  | { readonly action: 'bookmark'; readonly resourceVersion: string | undefined }
  | { readonly action: 'relist'; readonly message: string }
  | { readonly action: 'error'; readonly message: string };

/** Decides what a raw watch event means (pure). */
export function interpretWatchEvent<T extends KubeObjectMeta>(event: RawWatchEvent): WatchStep<T> {
  const obj = (event.object ?? {}) as T & { code?: number; reason?: string; message?: string };
  const rv = obj.metadata?.resourceVersion;
  switch (event.type) {
    case 'ADDED':
    case 'MODIFIED':
      return { action: 'emit', change: { kind: 'upsert', object: obj }, resourceVersion: rv };
    case 'DELETED':
      return { action: 'emit', change: { kind: 'delete', object: obj }, resourceVersion: rv };
    case 'BOOKMARK':
      return { action: 'bookmark', resourceVersion: rv };
    case 'ERROR':
      // 410 Gone/Expired: the version is compacted away; only a fresh list can resync.
      if (obj.code === 410 || obj.reason === 'Expired' || obj.reason === 'Gone') {
        return { action: 'relist', message: obj.message ?? '410 Expired' };
      }
      return { action: 'error', message: `${obj.code ?? ''} ${obj.reason ?? ''} ${obj.message ?? ''}`.trim() };
    default:
      return { action: 'error', message: `unknown watch event type ${JSON.stringify(event.type)}` };
  }
}

/** Options of a watch loop. */
export interface WatchLoopOptions<T> {
  readonly client: KubeClient;
  /** Collection path, e.g. resourcePath({group:'discovery.k8s.io', version:'v1', resource:'endpointslices', namespace}). */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Receives every change; the first is a 'replace' with the listed objects. */
  readonly onChange: (change: WatchChange<T>) => void;
  /** Called when `synced` flips. */
  readonly onSyncedChange?: (synced: boolean) => void;
  /** Restarts, labelled by resource and reason (expired, error, throttled, closed). */
  readonly restarts: Counter<'resource' | 'reason'>;
  /** Lists, labelled by resource and reason (initial, expired, retry, recheck, continue-expired); optional. */
  readonly relists?: Counter<'resource' | 'reason'>;
  /** The `resource` label value. */
  readonly resourceLabel: string;
  readonly logger: Logger;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  /** Clock and timers of every wait and bound (fake in tests). */
  readonly timers?: Timers;
  /** Server-side watch length (each watch asks for this, jittered, as client-go does). */
  readonly watchTimeoutSeconds?: number;
  /** A list or watch with no response headers for this long is abandoned and retried (15 s). */
  readonly headersTimeoutMs?: number;
  /**
   * The API server's bookmark period (60 s on a real one): an open watch with no byte for twice
   * this is taken for dead and resumed.
   */
  readonly bookmarkIntervalMs?: number;
  /**
   * A watch open this long (or for its whole requested length, if shorter) with no error is a
   * healthy stream: the backoff starts over (5 s).
   */
  readonly healthyWatchMs?: number;
  /** Items per list page (limit + continue; 500, as client-go's pager). */
  readonly pageSize?: number;
  /**
   * The slowest re-check of a kind the API server does not serve (its list answered 404): the
   * checks back off from `backoff.initialMs` up to this (default 60 s), so a CRD installed later is
   * picked up without a restart.
   */
  readonly absentRecheckMs?: number;
  /** Called when `absent` flips. */
  readonly onAbsentChange?: (absent: boolean) => void;
}

/** client-go's reflector has no such state; weft treats a kind the server lacks as empty. */
export const DEFAULT_ABSENT_RECHECK_MS = WATCH_DEFAULTS.absentRecheckMs;

interface ListPage<T> {
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items?: T[];
}

/** A running list-then-watch loop. Start with start(); stop with stop(). */
export class WatchLoop<T extends KubeObjectMeta> {
  readonly #o: WatchLoopOptions<T>;
  readonly #abort = new AbortController();
  readonly #timers: Timers;
  #synced = false;
  #resourceVersion: string | undefined;
  #done: Promise<void> | undefined;
  #failures = 0;
  #absent = false;
  #absentChecks = 0;
  /** What the next list is for (the relists counter's reason). */
  #listReason = 'initial';
  /** The next list asks for the latest state (a quorum read) instead of a cached one. */
  #listLatest = false;

  constructor(opts: WatchLoopOptions<T>) {
    this.#o = opts;
    this.#timers = opts.timers ?? realTimers;
  }

  /** True from a completed list until a 410 forces a new one. */
  get synced(): boolean {
    return this.#synced;
  }

  /**
   * True while the API server does not serve this kind (list or watch answered 404): the loop has
   * delivered an empty collection, is synced, and re-checks slowly.
   */
  get absent(): boolean {
    return this.#absent;
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /** Consecutive failed attempts: the backoff's attempt number (0 after a healthy stream). */
  get failures(): number {
    return this.#failures;
  }

  /** Starts the loop in the background. */
  start(): void {
    this.#done ??= this.#run();
  }

  /** Stops the loop and waits for it to finish. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }

  #setSynced(value: boolean): void {
    if (this.#synced === value) return;
    this.#synced = value;
    this.#o.onSyncedChange?.(value);
  }

  #query(extra: Record<string, string>): string {
    const q = new URLSearchParams();
    if (this.#o.labelSelector) q.set('labelSelector', this.#o.labelSelector);
    if (this.#o.fieldSelector) q.set('fieldSelector', this.#o.fieldSelector);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `${this.#o.path}?${q.toString()}`;
  }

  /**
   * Lists in pages of `pageSize` (limit + continue). The first list asks for resourceVersion=0, as
   * client-go does: any version the API server's watch cache holds, no etcd quorum read, so a
   * thousand sidecars starting together do not all hit etcd; the watch from that version then
   * brings the set up to date. A re-list after a 410 on the watch asks for "not older than" the
   * version last seen (never back in time); after a 410 on a list itself, the latest state. A
   * continue token that expired (410) restarts the list from its first page at the latest state.
   */
  async #list(): Promise<void> {
    const items: T[] = [];
    let cont = '';
    let restarted = false;
    let version = this.#listLatest ? '' : this.#resourceVersion ?? '0';
    this.#o.relists?.inc({ resource: this.#o.resourceLabel, reason: this.#listReason });
    for (;;) {
      const params: Record<string, string> = { limit: String(this.#o.pageSize ?? WATCH_DEFAULTS.pageSize) };
      if (cont !== '') params['continue'] = cont;
      else if (version !== '') params['resourceVersion'] = version;
      let page: ListPage<T>;
      try {
        page = await this.#o.client.request<ListPage<T>>('GET', this.#query(params), undefined, {
          timers: this.#timers,
          headersTimeoutMs: this.#o.headersTimeoutMs ?? WATCH_DEFAULTS.headersTimeoutMs,
        });
      } catch (err) {
        if (cont !== '' && !restarted && err instanceof KubeApiError && err.apiStatus === 410) {
          this.#o.relists?.inc({ resource: this.#o.resourceLabel, reason: 'continue-expired' });
          restarted = true;
          items.length = 0;
          cont = '';
          version = '';
          continue;
        }
        if (err instanceof KubeApiError && err.apiStatus === 410) this.#listLatest = true;
        throw err;
      }
      for (const item of page.items ?? []) items.push(item);
      cont = page.metadata?.continue ?? '';
      if (cont === '') {
        this.#resourceVersion = page.metadata?.resourceVersion;
        break;
      }
    }
    this.#listLatest = false;
    this.#o.onChange({ kind: 'replace', objects: items });
    this.#setAbsent(false);
    this.#setSynced(true);
  }

  #setAbsent(value: boolean): void {
    if (this.#absent === value) return;
    this.#absent = value;
    this.#absentChecks = 0;
    if (value) {
      this.#o.logger.warn({ resource: this.#o.resourceLabel, path: this.#o.path }, 'the API server does not serve this kind; treating it as empty until it does');
    } else {
      this.#o.logger.info({ resource: this.#o.resourceLabel, path: this.#o.path }, 'the API server serves this kind now');
    }
    this.#o.onAbsentChange?.(value);
  }

  /** 404 on the collection: the kind is not served. Deliver it empty (once) and wait to re-check. */
  async #whileAbsent(signal: AbortSignal, policy: BackoffPolicy, random: () => number): Promise<void> {
    if (!this.#absent) {
      this.#resourceVersion = undefined;
      this.#o.onChange({ kind: 'replace', objects: [] });
      this.#setAbsent(true);
      this.#setSynced(true);
    }
    const recheck: BackoffPolicy = { initialMs: policy.initialMs, maxMs: this.#o.absentRecheckMs ?? DEFAULT_ABSENT_RECHECK_MS, minFraction: 0.5 };
    const delay = backoffDelayMs(this.#absentChecks, recheck, random);
    this.#absentChecks += 1;
    this.#listReason = 'recheck';
    await sleep(this.#timers, delay, signal);
  }

  /** One watch from the kept resourceVersion, until the server ends it (or a 410 ends it). */
  async #watch(signal: AbortSignal, random: () => number): Promise<WatchOutcome> {
    const timers = this.#timers;
    const timeoutSeconds = Math.round((this.#o.watchTimeoutSeconds ?? WATCH_DEFAULTS.watchTimeoutSeconds) * (1 + random()));
    const path = this.#query({
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
      ...(this.#resourceVersion ? { resourceVersion: this.#resourceVersion } : {}),
    });
    let healthy = false;
    let healthyTimer: TimerHandle | undefined;
    const healthyAfter = Math.min(this.#o.healthyWatchMs ?? WATCH_DEFAULTS.healthyWatchMs, timeoutSeconds * 1000);
    const onOpen = (): void => {
      healthyTimer = timers.setTimeout(() => {
        // Not an event: a stream that stays open and error-free is what proves the server well.
        healthy = true;
        this.#failures = 0;
      }, healthyAfter);
      healthyTimer.unref();
    };
    try {
      const watch = this.#o.client.watch(path, {
        signal,
        idleTimeoutMs: 2 * (this.#o.bookmarkIntervalMs ?? WATCH_DEFAULTS.bookmarkIntervalMs),
        headersTimeoutMs: this.#o.headersTimeoutMs ?? WATCH_DEFAULTS.headersTimeoutMs,
        timers,
        onOpen,
      });
      for await (const event of watch) {
        const step = interpretWatchEvent<T>(event);
        if (step.action === 'emit') {
          if (step.resourceVersion) this.#resourceVersion = step.resourceVersion;
          this.#o.onChange(step.change);
        } else if (step.action === 'bookmark') {
          if (step.resourceVersion) this.#resourceVersion = step.resourceVersion;
        } else if (step.action === 'relist') {
          this.#o.logger.info({ resource: this.#o.resourceLabel, path: this.#o.path, message: step.message }, 'watch expired; re-listing');
          return { kind: 'expired' };
        } else {
          throw new Error(`watch error event: ${step.message}`);
        }
      }
      return { kind: 'closed', healthy };
    } finally {
      timers.clearTimeout(healthyTimer);
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const random = this.#o.random ?? Math.random;
    const policy = this.#o.backoff ?? DEFAULT_BACKOFF;
    let needList = true;
    while (!signal.aborted) {
      let outcome: WatchOutcome;
      let failure: unknown;
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        outcome = await this.#watch(signal, random);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.apiStatus === 404) {
          needList = true;
          await this.#whileAbsent(signal, policy, random);
          continue;
        }
        failure = err;
        outcome = err instanceof KubeApiError && err.apiStatus === 410 ? { kind: 'expired' } : { kind: 'error', retryAfterMs: err instanceof KubeApiError ? err.retryAfterMs : undefined };
      }
      if (signal.aborted) break;
      const plan = planRetry(outcome, this.#failures, policy, random);
      this.#failures = plan.failures;
      this.#o.restarts.inc({ resource: this.#o.resourceLabel, reason: plan.reason });
      if (plan.relist) {
        this.#setSynced(false);
        needList = true;
        this.#listReason = 'expired';
      } else if (needList) {
        this.#listReason = 'retry';
      }
      if (failure !== undefined) {
        this.#o.logger.warn(
          {
            resource: this.#o.resourceLabel, path: this.#o.path, code: isWeftError(failure) ? failure.code : undefined,
            err: (failure as Error).message, retryInMs: plan.delayMs, attempt: plan.failures,
          },
          'watch failed; retrying',
        );
      }
      if (plan.delayMs > 0) await sleep(this.#timers, plan.delayMs, signal);
    }
  }
}
