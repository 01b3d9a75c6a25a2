// Keeps a local copy of a set of API objects: list, then watch from the list's resourceVersion
// with bookmarks; 410 Expired re-lists and replaces the whole set; a broken stream is resumed
// from the last resourceVersion after weft's one capped, jittered backoff (lib/backoff.ts) on
// the caller's timers; every restart is counted. (@kubernetes/client-node's informer never asks
// for bookmarks and stops for good on a network error, hence this loop.) The decisions
// (interpreting an event, applying a change) are pure functions below.
import type { Counter } from 'prom-client';
import type { Logger } from '../logger.js';
import { isWeftError } from '../errors.js';
import { backoffDelayMs, type BackoffPolicy } from '../backoff.js';
import { realTimers, sleep, type Timers } from '../timers.js';
import { KubeApiError, type KubeClient, type RawWatchEvent } from './client.js';

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

/** client-go's reflector starts at 800 ms and caps at 30 s; weft reacts faster at first. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 30_000 };

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
  /** Restarts, labelled by resource and reason (expired, error, closed). */
  readonly restarts: Counter<'resource' | 'reason'>;
  /** The `resource` label value. */
  readonly resourceLabel: string;
  readonly logger: Logger;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  /** Clock and timers of the backoff waits (fake in tests). */
  readonly timers?: Timers;
  /** Server-side watch length (each watch asks for this, jittered, as client-go does). */
  readonly watchTimeoutSeconds?: number;
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
export const DEFAULT_ABSENT_RECHECK_MS = 60_000;

/** A running list-then-watch loop. Start with start(); stop with stop(). */
export class WatchLoop<T extends KubeObjectMeta> {
  readonly #o: WatchLoopOptions<T>;
  readonly #abort = new AbortController();
  #synced = false;
  #resourceVersion: string | undefined;
  #done: Promise<void> | undefined;
  #failures = 0;
  #absent = false;
  #absentChecks = 0;

  constructor(opts: WatchLoopOptions<T>) {
    this.#o = opts;
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

  async #list(): Promise<void> {
    const list = await this.#o.client.request<{ metadata?: { resourceVersion?: string }; items?: T[] }>('GET', this.#query({}));
    this.#resourceVersion = list.metadata?.resourceVersion;
    this.#o.onChange({ kind: 'replace', objects: list.items ?? [] });
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
  async #whileAbsent(signal: AbortSignal, policy: BackoffPolicy, random: () => number, timers: Timers): Promise<void> {
    if (!this.#absent) {
      this.#resourceVersion = undefined;
      this.#o.onChange({ kind: 'replace', objects: [] });
      this.#setAbsent(true);
      this.#setSynced(true);
    }
    const recheck: BackoffPolicy = { initialMs: policy.initialMs, maxMs: this.#o.absentRecheckMs ?? DEFAULT_ABSENT_RECHECK_MS, minFraction: 0.5 };
    const delay = backoffDelayMs(this.#absentChecks, recheck, random);
    this.#absentChecks += 1;
    await sleep(timers, delay, signal);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const random = this.#o.random ?? Math.random;
    const timers = this.#o.timers ?? realTimers;
    const policy = this.#o.backoff ?? DEFAULT_BACKOFF;
    const baseTimeout = this.#o.watchTimeoutSeconds ?? 300;
    let needList = true;
    while (!signal.aborted) {
      let reason: 'expired' | 'error' | 'closed';
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        const timeoutSeconds = Math.round(baseTimeout * (1 + random()));
        const path = this.#query({
          watch: 'true',
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(timeoutSeconds),
          ...(this.#resourceVersion ? { resourceVersion: this.#resourceVersion } : {}),
        });
        let relist: string | undefined;
        const watchStarted = timers.now();
        let events = 0;
        for await (const event of this.#o.client.watch(path, { signal, idleTimeoutMs: (timeoutSeconds + 30) * 1000 })) {
          events += 1;
          const step = interpretWatchEvent<T>(event);
          if (step.action === 'emit') {
            if (step.resourceVersion) this.#resourceVersion = step.resourceVersion;
            this.#o.onChange(step.change);
          } else if (step.action === 'bookmark') {
            if (step.resourceVersion) this.#resourceVersion = step.resourceVersion;
          } else if (step.action === 'relist') {
            relist = step.message;
            break;
          } else {
            throw new Error(`watch error event: ${step.message}`);
          }
          this.#failures = 0;
        }
        if (signal.aborted) break;
        if (relist !== undefined) {
          this.#o.logger.info({ resource: this.#o.resourceLabel, path: this.#o.path, message: relist }, 'watch expired; re-listing');
          this.#setSynced(false);
          needList = true;
          reason = 'expired';
          this.#o.restarts.inc({ resource: this.#o.resourceLabel, reason });
          continue;
        }
        // The server ended the watch (timeoutSeconds): resume at once from the last version,
        // unless it ended at once with nothing in it: a server doing that over and over gets the
        // same backoff as a failing one instead of a busy loop.
        reason = 'closed';
        this.#o.restarts.inc({ resource: this.#o.resourceLabel, reason });
        if (events === 0 && timers.now() - watchStarted < 1000) {
          await sleep(timers, backoffDelayMs(this.#failures, policy, random), signal);
          this.#failures += 1;
        } else {
          this.#failures = 0;
        }
        continue;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.apiStatus === 404) {
          needList = true;
          await this.#whileAbsent(signal, policy, random, timers);
          continue;
        }
        if (err instanceof KubeApiError && err.apiStatus === 410) {
          this.#setSynced(false);
          needList = true;
          this.#o.restarts.inc({ resource: this.#o.resourceLabel, reason: 'expired' });
          continue;
        }
        reason = 'error';
        this.#o.restarts.inc({ resource: this.#o.resourceLabel, reason });
        const delay = backoffDelayMs(this.#failures, policy, random);
        this.#failures += 1;
        const code = isWeftError(err) ? err.code : undefined;
        this.#o.logger.warn(
          { resource: this.#o.resourceLabel, path: this.#o.path, code, err: (err as Error).message, retryInMs: delay, attempt: this.#failures },
          'watch failed; retrying',
        );
        await sleep(timers, delay, signal);
      }
    }
  }
}
