// Faults the test API server shows on command, the ones real API servers show: a request held
// without response headers, 410 Expired on watches, 429/503 with Retry-After, and a request log
// with times so tests count what a client really sent.
import type { ServerResponse } from 'node:http';
import { StatusError, type ResourceDef } from './resources.js';
import { sendJson } from './wire.js';

/** Which requests a fault applies to; an absent field matches every request. */
export interface FaultMatch {
  /** The verb as the authorizer sees it: get, list, watch, create, update, patch, delete. */
  readonly verb?: string;
  /** The plural resource (endpointslices, tokenreviews, ...). */
  readonly resource?: string;
  /** true: only list pages after the first (with a continue token); false: only first pages. */
  readonly continued?: boolean;
}

/** What a matched request gets instead of its answer. */
export type FaultAction =
  /** No response headers ever (until the fault is cleared or the server stops): a hung proxy or a stuck watch cache. */
  | { readonly kind: 'hang' }
  /**
   * An error Status with this code; 429 and 503 carry Retry-After (seconds) as the real server's
   * priority and fairness and its overloaded aggregator do. On a watch, 410 is sent the way the
   * real server sends it: 200, then one ERROR event with the 410 Status, then the end.
   */
  | { readonly kind: 'status'; readonly code: number; readonly retryAfterSeconds?: number };

/** One request as the server saw it. */
export interface RequestRecord {
  /** Date.now() when the request's body had arrived. */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  /** The query string without '?'. */
  readonly query: string;
  /** get, list, watch, create, ... (undefined for discovery, health and unknown paths). */
  verb: string | undefined;
  /** The plural resource, when the path names one. */
  resource: string | undefined;
}

interface Rule {
  readonly match: FaultMatch;
  readonly action: FaultAction;
  remaining: number;
}

const REASONS: Readonly<Record<number, string>> = {
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The active faults and the requests they were given to. */
export class Faults {
  #rules: Rule[] = [];
  readonly #held = new Set<ServerResponse>();
  /** Every request with its time, verb and resource (tests count lists, watches and retries here). */
  readonly log: RequestRecord[] = [];
  /**
   * Lists that ask for a `limit` get at most this many items per page (a real server may return
   * fewer than asked); 0: as asked. A list without `limit` is never paged, as on a real server.
   */
  maxPageSize = 0;

  /** Adds a fault for the next `count` matching requests (every one while active, by default). */
  add(action: FaultAction, match: FaultMatch = {}, count = Infinity): void {
    this.#rules.push({ match, action, remaining: count });
  }

  /** Ends every fault; held requests are dropped (their connections reset). */
  clear(): void {
    this.#rules = [];
    for (const res of this.#held) res.socket?.destroy();
    this.#held.clear();
  }

  /** Requests held without headers right now. */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Matching requests still to fail, over every rule (Infinity when one has no count). */
  get pending(): number {
    return this.#rules.reduce((n, r) => n + r.remaining, 0);
  }

  /** Notes what a request was once routing knows it. */
  classify(record: RequestRecord | undefined, verb: string, resource: string): void {
    if (!record) return;
    record.verb = verb;
    record.resource = resource;
  }

  /**
   * Answers the request with its fault when one matches (true), else false. `def` is the type of
   * a collection request (for the 410 event's shape).
   */
  intercept(res: ServerResponse, verb: string, resource: string, def: ResourceDef | undefined, continued = false): boolean {
    const rule = this.#rules.find(
      (r) => r.remaining > 0 && (r.match.verb === undefined || r.match.verb === verb) && (r.match.resource === undefined || r.match.resource === resource) && (r.match.continued === undefined || r.match.continued === continued),
    );
    if (!rule) return false;
    rule.remaining -= 1;
    this.#rules = this.#rules.filter((r) => r.remaining > 0);
    const action = rule.action;
    if (action.kind === 'hang') {
      this.#held.add(res);
      res.on('close', () => this.#held.delete(res));
      return true;
    }
    const status = new StatusError(action.code, REASONS[action.code] ?? 'Unknown', faultMessage(action.code, action.retryAfterSeconds), action.retryAfterSeconds === undefined ? undefined : { retryAfterSeconds: action.retryAfterSeconds }).status;
    if (verb === 'watch' && action.code === 410 && def) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
      res.end(JSON.stringify({ type: 'ERROR', object: { ...status, apiVersion: 'v1', kind: 'Status', details: { kind: def.resource, group: def.group } } }) + '\n');
      return true;
    }
    if (action.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(action.retryAfterSeconds));
    sendJson(res, action.code, status);
    return true;
  }
}

function faultMessage(code: number, retryAfterSeconds: number | undefined): string {
  switch (code) {
    case 410:
      return 'too old resource version: 1 (2)';
    case 429:
      return 'The server has received too many requests and has asked us to try again later';
    case 503:
      return retryAfterSeconds === undefined ? 'The server is currently unable to handle the request' : 'The server is currently unable to handle the request (Retry-After)';
    default:
      return `injected ${code}`;
  }
}
