// The one watch-a-file-and-reload helper: watches the directories of its files (editors, `mv`
// and the kubelet's ConfigMap/Secret updates replace files by rename, and a watch on the old
// inode goes deaf), optionally polls as well (fs.watch can miss events: network filesystems, a
// directory that appears later), debounces the burst of events one update makes, reads the new
// version, and applies it only when it changed and checks out. A version that cannot be read or
// is refused leaves the one in force; the next event or poll tries again.
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { TimerHandle, Timers } from './timers.js';

/** Where a reload failed: reading the files, or applying what was read. */
export type ReloadStage = 'read' | 'apply';

/** Options of a watched file (or of a set of files read together). */
export interface WatchedFileOptions<T> {
  /** The files; their directories are watched. */
  readonly paths: readonly string[];
  /**
   * Reload on any change in the watched directories, not only to the files' own names (the
   * kubelet flips a `..data` symlink, so the file's name never shows up in the events).
   */
  readonly anyNameInDirectory?: boolean;
  /** Reads the current version; undefined means "not there yet" (the one in force stays, no error). */
  readonly read: () => Promise<T | undefined>;
  /** Whether two versions are the same (an unchanged version is not applied again). */
  readonly same: (a: T, b: T) => boolean;
  /** Puts a new version in force; a throw refuses it and the previous one stays. */
  readonly apply: (next: T) => void | Promise<void>;
  /** Told of each failed reload (the version in force stays). */
  readonly onError: (err: unknown, stage: ReloadStage) => void;
  /** Told when a directory cannot be watched (polling, if set, still runs). */
  readonly onWatchError?: (err: Error) => void;
  readonly timers: Timers;
  /** Quiet time after the last event before reading. */
  readonly debounceMs: number;
  /** Also re-read this often (0 or unset: only on events). */
  readonly pollMs?: number;
  /** Watch the files' directories (default); false polls only. */
  readonly watchDirectories?: boolean;
  /** fs.watch, replaced by tests that deliver events themselves. */
  readonly watch?: (dir: string, listener: (event: string, name: string | null) => void) => FSWatcher;
}

/** One watched file (or set of files read as one version). */
export class WatchedFile<T> {
  readonly #o: WatchedFileOptions<T>;
  readonly #names: ReadonlySet<string>;
  readonly #watchers: FSWatcher[] = [];
  #current: T | undefined;
  #debounce: TimerHandle | undefined;
  #poll: TimerHandle | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: WatchedFileOptions<T>) {
    this.#o = opts;
    this.#names = new Set(opts.paths.map((p) => basename(p)));
  }

  /** The version in force (undefined before the first one). */
  get current(): T | undefined {
    return this.#current;
  }

  /**
   * Reads and applies the first version, throwing what read or apply throws: at start there is
   * nothing to keep. Resolves to undefined when read found nothing there yet.
   */
  async load(): Promise<T | undefined> {
    const next = await this.#o.read();
    if (next === undefined) return undefined;
    await this.#o.apply(next);
    this.#current = next;
    return next;
  }

  /** Starts watching (and polling); `current` is the version already in force, if loaded elsewhere. */
  start(current?: T): void {
    if (current !== undefined) this.#current = current;
    const watchFn = this.#o.watch ?? ((dir: string, listener: (event: string, name: string | null) => void) => fsWatch(dir, { persistent: false }, listener));
    const dirs = this.#o.watchDirectories === false ? [] : new Set(this.#o.paths.map((p) => dirname(p)));
    for (const dir of dirs) {
      try {
        const watcher = watchFn(dir, (_event, name) => {
          if (this.#o.anyNameInDirectory || name === null || this.#names.has(name)) this.#schedule();
        });
        watcher.on('error', (err: Error) => this.#o.onWatchError?.(err));
        this.#watchers.push(watcher);
      } catch (err) {
        this.#o.onWatchError?.(err as Error);
      }
    }
    this.#schedulePoll();
  }

  /** Re-reads now (no debounce), after any reload already running; resolves when done. */
  check(): Promise<void> {
    const run = this.#reloading.then(() => this.#reload());
    // Only a throwing callback can reject; it must not stop every later reload.
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  /** Stops watching and polling; a reload already running finishes. */
  close(): void {
    this.#closed = true;
    this.#o.timers.clearTimeout(this.#debounce);
    this.#o.timers.clearTimeout(this.#poll);
    for (const w of this.#watchers) w.close();
    this.#watchers.length = 0;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#o.timers.clearTimeout(this.#debounce);
    this.#debounce = this.#o.timers.setTimeout(() => void this.check(), this.#o.debounceMs);
    this.#debounce.unref();
  }

  #schedulePoll(): void {
    const every = this.#o.pollMs ?? 0;
    if (this.#closed || every <= 0) return;
    this.#poll = this.#o.timers.setTimeout(() => {
      void this.check().then(() => this.#schedulePoll());
    }, every);
    this.#poll.unref();
  }

  // Never rejects: every failure goes to onError, so the chain of reloads stays alive.
  async #reload(): Promise<void> {
    if (this.#closed) return;
    let next: T | undefined;
    try {
      next = await this.#o.read();
    } catch (err) {
      if (!this.#closed) this.#o.onError(err, 'read');
      return;
    }
    if (this.#closed || next === undefined) return;
    if (this.#current !== undefined && this.#o.same(this.#current, next)) return;
    try {
      await this.#o.apply(next);
      this.#current = next;
    } catch (err) {
      if (!this.#closed) this.#o.onError(err, 'apply');
    }
  }
}
