// The stored responses of one CachePolicy: an LRU over primary keys with a byte cap that counts
// body, headers and key, each key holding its Vary variants. No I/O and no clock: callers pass times.
import type { IncomingHttpHeaders } from 'node:http';
import { entryBytes, varyKey, varyNames, type Directives, type StoredHeaders, type Timing } from './http-cache-rules.js';

/** One stored response (one variant of a primary key). */
export interface StoredResponse {
  readonly status: number;
  /** End-to-end headers as the backend sent them (updated by 304s). */
  headers: StoredHeaders;
  /** Its Cache-Control, parsed once. */
  directives: Directives;
  readonly body: Buffer;
  timing: Timing;
  /** The header names it varies on and the request's values for them. */
  readonly vary: readonly string[];
  readonly varyValues: string;
  /** "namespace/name" of the route it was stored for (purge by route). */
  readonly route: string;
  /** Bytes it is charged for. */
  bytes: number;
}

interface Slot {
  readonly variants: StoredResponse[];
  bytes: number;
}

/** What a lookup found: the matching variant, or why none matched. */
export type Lookup = { readonly kind: 'found'; readonly entry: StoredResponse } | { readonly kind: 'miss' } | { readonly kind: 'vary-miss' };

/** A byte-capped LRU of responses; Map order is recency (oldest first). */
export class ResponseStore {
  readonly #slots = new Map<string, Slot>();
  #bytes = 0;
  #maxBytes: number;
  /** Entries evicted by the byte cap since start. */
  evictions = 0;
  /** Requests answered from the store (the cache step counts them). */
  hits = 0;
  /** Requests the store could not answer without the backend (misses, stale, forced checks). */
  misses = 0;
  /** Responses stored. */
  stores = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Changes the cap (a reloaded policy), evicting at once if over. */
  resize(maxBytes: number): void {
    this.#maxBytes = maxBytes;
    this.#evict();
  }

  /** The variant of `key` for a request with these headers; a hit becomes most recently used. */
  lookup(key: string, headers: IncomingHttpHeaders): Lookup {
    const slot = this.#slots.get(key);
    if (!slot) return { kind: 'miss' };
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    for (const v of slot.variants) if (varyKey(v.vary, headers) === v.varyValues) return { kind: 'found', entry: v };
    return { kind: 'vary-miss' };
  }

  /** Stores a response for `key`, replacing the variant with the same Vary values; false if it alone exceeds the cap. */
  store(key: string, reqHeaders: IncomingHttpHeaders, r: { status: number; headers: StoredHeaders; directives: Directives; body: Buffer; timing: Timing; route: string }): boolean {
    const vary = varyNames(r.headers);
    const entry: StoredResponse = {
      status: r.status,
      headers: r.headers,
      directives: r.directives,
      body: r.body,
      timing: r.timing,
      vary,
      varyValues: varyKey(vary, reqHeaders),
      route: r.route,
      bytes: entryBytes(key, r.headers, r.body.length),
    };
    if (entry.bytes > this.#maxBytes) return false;
    let slot = this.#slots.get(key);
    if (slot) {
      this.#slots.delete(key);
      const i = slot.variants.findIndex((v) => v.varyValues === entry.varyValues && v.vary.join(',') === vary.join(','));
      if (i >= 0) this.#drop(slot, i);
    } else {
      slot = { variants: [], bytes: 0 };
    }
    this.stores++;
    slot.variants.push(entry);
    slot.bytes += entry.bytes;
    this.#bytes += entry.bytes;
    this.#slots.set(key, slot);
    this.#evict(key);
    return true;
  }

  /** Re-counts an entry whose headers a 304 replaced. */
  updated(entry: StoredResponse, key: string): void {
    const before = entry.bytes;
    entry.bytes = entryBytes(key, entry.headers, entry.body.length);
    const slot = this.#slots.get(key);
    if (slot && slot.variants.includes(entry)) {
      slot.bytes += entry.bytes - before;
      this.#bytes += entry.bytes - before;
      this.#evict(key);
    }
  }

  /** Drops every variant of `key` (an unsafe method on its URI). */
  invalidate(key: string): void {
    const slot = this.#slots.get(key);
    if (!slot) return;
    this.#bytes -= slot.bytes;
    this.#slots.delete(key);
  }

  /** Drops every entry stored for `route` ("namespace/name"); returns how many. */
  purgeRoute(route: string): number {
    let n = 0;
    for (const [key, slot] of this.#slots) {
      for (let i = slot.variants.length - 1; i >= 0; i--) {
        if ((slot.variants[i] as StoredResponse).route === route) {
          this.#drop(slot, i);
          n++;
        }
      }
      if (slot.variants.length === 0) this.#slots.delete(key);
    }
    return n;
  }

  /** Stored variants. */
  get entries(): number {
    let n = 0;
    for (const s of this.#slots.values()) n += s.variants.length;
    return n;
  }

  /** Bytes charged. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The cap. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  #drop(slot: Slot, i: number): void {
    const [gone] = slot.variants.splice(i, 1);
    if (!gone) return;
    slot.bytes -= gone.bytes;
    this.#bytes -= gone.bytes;
  }

  // Least recently used keys go first (all their variants); `keep` (the one just stored) goes last.
  #evict(keep?: string): void {
    for (const [key, slot] of this.#slots) {
      if (this.#bytes <= this.#maxBytes) return;
      if (key === keep) continue;
      this.#slots.delete(key);
      this.#bytes -= slot.bytes;
      this.evictions += slot.variants.length;
    }
    // Only the key just stored is left: its oldest variants go.
    const slot = keep === undefined ? undefined : this.#slots.get(keep);
    while (slot && this.#bytes > this.#maxBytes && slot.variants.length > 1) {
      this.#drop(slot, 0);
      this.evictions++;
    }
  }
}
