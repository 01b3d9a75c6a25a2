// Watch streams of the test API server: each GET ?watch is one Watcher that receives the store's
// changes as JSON lines (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR), filtered by its selectors, until
// its timeout, a cut, or a 410 Expired.
import type { ServerResponse } from 'node:http';
import type { FieldRequirement, LabelSelector } from '../kube-selectors.js';
import { matches, selectors } from './list.js';
import type { ObjectStore, StoreEvent } from './object-store.js';
import { apiVersionOf, StatusError, type KubeStatus, type ResourceDef } from './resources.js';

interface Watcher {
  readonly def: ResourceDef;
  readonly namespace: string | undefined;
  readonly labels: LabelSelector;
  readonly fields: FieldRequirement[];
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
  timers: NodeJS.Timeout[];
  closed: boolean;
}

/** The open watches and what each is sent. */
export class WatchHub {
  readonly #store: ObjectStore;
  readonly #bookmarkIntervalMs: number;
  readonly #defaultTimeoutSeconds: number;
  readonly #watchers = new Set<Watcher>();

  /** bookmarkIntervalMs: BOOKMARK period; defaultTimeoutSeconds: watch length when the client names none. */
  constructor(store: ObjectStore, opts: { readonly bookmarkIntervalMs: number; readonly defaultTimeoutSeconds: number }) {
    this.#store = store;
    this.#bookmarkIntervalMs = opts.bookmarkIntervalMs;
    this.#defaultTimeoutSeconds = opts.defaultTimeoutSeconds;
  }

  /** Active watch streams. */
  get count(): number {
    return this.#watchers.size;
  }

  /** Sends a stored change to every watch it concerns. */
  deliver(e: StoreEvent): void {
    for (const w of this.#watchers) this.#deliver(w, e);
  }

  /** Drops every watch connection without a word (a network cut or an API server crash). */
  cut(): void {
    for (const w of [...this.#watchers]) this.#closeWatcher(w, true);
  }

  /** Ends (cleanly) every watch of a type, as the real server does when the type stops being served. */
  endFor(def: ResourceDef): void {
    for (const w of [...this.#watchers]) if (w.def === def) this.#closeWatcher(w, false);
  }

  /** Ends every watch with ERROR 410 Expired (the caller compacts first). */
  expire(): void {
    for (const w of [...this.#watchers]) {
      this.#writeEvent(w, { type: 'ERROR', object: this.#expiredStatus(w.def, this.#store.rv - 1) });
      this.#closeWatcher(w, false);
    }
  }

  /** Sends a BOOKMARK now to every watch that asked for them. */
  sendBookmarks(): void {
    for (const w of this.#watchers) if (w.bookmarks) this.#writeBookmark(w);
  }

  /** GET ?watch: initial events or replay from resourceVersion, then live events until the timeout. */
  serve(res: ServerResponse, def: ResourceDef, namespace: string | undefined, q: URLSearchParams): void {
    const { labels, fields } = selectors(q, def);
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const sendInitial = q.get('sendInitialEvents');
    const timeoutParam = q.get('timeoutSeconds');
    if (sendInitial === 'true' && (!bookmarks || q.get('resourceVersionMatch') !== 'NotOlderThan')) {
      throw new StatusError(422, 'Invalid', 'sendInitialEvents: Forbidden: sendInitialEvents requires setting allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan');
    }
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) {
      throw new StatusError(400, 'BadRequest', `resourceVersion: Invalid value: "${rvParam}": strconv.ParseUint: parsing "${rvParam}": invalid syntax`);
    }
    // 0 or absent means the server's own default, as in the real server.
    const asked = timeoutParam !== null && /^\d+$/.test(timeoutParam) ? Number(timeoutParam) : 0;
    const timeoutSeconds = asked > 0 ? asked : this.#defaultTimeoutSeconds;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = { def, namespace, labels, fields, res, bookmarks, timers: [], closed: false };
    res.on('close', () => this.#closeWatcher(w, false));
    const initial = rvParam === '' || rvParam === '0' || sendInitial === 'true';
    if (initial) {
      // "Get State and Start at Most Recent": synthetic ADDED for what exists now.
      for (const o of this.#store.bucket(def).values()) {
        if (matches(def, o, namespace, labels, fields)) this.#writeEvent(w, { type: 'ADDED', object: o });
      }
      if (sendInitial === 'true') {
        this.#writeEvent(w, {
          type: 'BOOKMARK',
          object: { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(this.#store.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } },
        });
      }
    } else {
      const from = Number(rvParam);
      if (from < this.#store.compactedRv) {
        this.#writeEvent(w, { type: 'ERROR', object: this.#expiredStatus(def, from) });
        res.end();
        return;
      }
      for (const e of this.#store.history) if (e.rv > from) this.#deliver(w, e);
    }
    this.#watchers.add(w);
    w.timers.push(setTimeout(() => this.#closeWatcher(w, false), timeoutSeconds * 1000));
    if (bookmarks) w.timers.push(setInterval(() => this.#writeBookmark(w), this.#bookmarkIntervalMs));
  }

  #expiredStatus(_def: ResourceDef, from: number): KubeStatus {
    return new StatusError(410, 'Expired', `too old resource version: ${from} (${this.#store.compactedRv})`).status;
  }

  #deliver(w: Watcher, e: StoreEvent): void {
    if (w.def !== e.def || w.closed) return;
    const nowMatch = e.type !== 'DELETED' && matches(w.def, e.obj, w.namespace, w.labels, w.fields);
    const wasMatch = e.prev !== undefined && matches(w.def, e.prev, w.namespace, w.labels, w.fields);
    if (e.type === 'ADDED' && nowMatch) this.#writeEvent(w, { type: 'ADDED', object: e.obj });
    else if (e.type === 'MODIFIED') {
      // An object moving into or out of the selection is ADDED or DELETED for this watch.
      if (nowMatch && wasMatch) this.#writeEvent(w, { type: 'MODIFIED', object: e.obj });
      else if (nowMatch) this.#writeEvent(w, { type: 'ADDED', object: e.obj });
      else if (wasMatch) this.#writeEvent(w, { type: 'DELETED', object: e.obj });
    } else if (e.type === 'DELETED' && wasMatch) this.#writeEvent(w, { type: 'DELETED', object: e.obj });
  }

  #writeBookmark(w: Watcher): void {
    this.#writeEvent(w, { type: 'BOOKMARK', object: { kind: w.def.kind, apiVersion: apiVersionOf(w.def), metadata: { resourceVersion: String(this.#store.rv) } } });
  }

  #writeEvent(w: Watcher, event: { type: string; object: unknown }): void {
    if (w.closed || w.res.destroyed) return;
    w.res.write(JSON.stringify(event) + '\n');
  }

  #closeWatcher(w: Watcher, abrupt: boolean): void {
    if (w.closed) return;
    w.closed = true;
    for (const t of w.timers) clearTimeout(t);
    this.#watchers.delete(w);
    if (abrupt) w.res.socket?.destroy();
    else if (!w.res.writableEnded) w.res.end();
  }
}
