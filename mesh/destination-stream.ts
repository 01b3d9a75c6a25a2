// weft destination answers each watch (endpoints, policies, routes) as one long HTTP/2 stream of
// newline-delimited JSON. This is the one reader of such a stream, and the one loop that keeps a
// single stream open: reopened with capped backoff after it ends or fails, while the caller keeps
// its last good state. The endpoint, policy and routes sources of the proxy share them.
import http2, { type ClientHttp2Stream } from 'node:http2';
import { backoffDelayMs, type BackoffPolicy } from '../lib/backoff.js';
import { realTimers, type TimerHandle, type Timers } from '../lib/timers.js';

/** Opens a GET stream to weft destination (RemoteEndpointSource.openStream); throws without a certificate. */
export type OpenDestinationStream = (path: string) => ClientHttp2Stream;

/** How much of a refusal's body is kept for the log line. */
const REFUSAL_HEAD = 200;

/**
 * Feeds each line of `stream` to `onLine` while the answer is 200 (`onLine` returns false when the
 * caller has let go of this stream, and reading stops), then calls `onEnd` once with why it ended.
 */
export function readDestinationLines(stream: ClientHttp2Stream, onLine: (line: string) => boolean, onEnd: (reason: string) => void): void {
  let status = 0;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('response', (headers) => (status = Number(headers[':status'])));
  stream.on('data', (chunk: string) => {
    if (status !== 200) {
      // A refusal: only its head is kept, for the reason.
      if (buffered.length < REFUSAL_HEAD) buffered += chunk;
      return;
    }
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!onLine(line)) return;
    }
  });
  // The reason is given at close; the error itself says nothing more.
  stream.on('error', () => undefined);
  stream.on('close', () => onEnd(status === 200 || status === 0 ? 'stream to weft destination ended' : `weft destination answered ${status}: ${buffered.slice(0, REFUSAL_HEAD)}`));
}

/** Options of a DestinationSubscription. */
export interface DestinationSubscriptionOptions {
  /** Opens the stream; a throw (no certificate yet, no session) is retried like a failed stream. */
  readonly open: () => ClientHttp2Stream;
  /** One line; true when it was good (which resets the backoff). */
  readonly onLine: (line: string) => boolean;
  /** The stream ended or could not open; it reopens in `retryInMs`. */
  readonly onFailure: (reason: string, retryInMs: number) => void;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

const RETRY: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

/** One watch stream to weft destination kept open until close(). */
export class DestinationSubscription {
  readonly #o: DestinationSubscriptionOptions;
  readonly #clock: Timers;
  #stream: ClientHttp2Stream | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #closed = false;

  constructor(opts: DestinationSubscriptionOptions) {
    this.#o = opts;
    this.#clock = opts.timers ?? realTimers;
  }

  /** Opens the stream unless it is open or a reopen is already scheduled. */
  start(): void {
    if (!this.#closed && !this.#stream && !this.#timer) this.#open();
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close(http2.constants.NGHTTP2_CANCEL);
  }

  #open(): void {
    let stream: ClientHttp2Stream;
    try {
      stream = this.#o.open();
    } catch (err) {
      this.#retry((err as Error).message);
      return;
    }
    this.#stream = stream;
    readDestinationLines(
      stream,
      (line) => {
        if (this.#stream !== stream) return false;
        if (this.#o.onLine(line)) this.#failures = 0;
        return true;
      },
      (reason) => {
        if (this.#stream !== stream) return; // closed by us
        this.#stream = undefined;
        this.#retry(reason);
      },
    );
  }

  #retry(reason: string): void {
    if (this.#closed) return;
    const delay = backoffDelayMs(this.#failures, this.#o.backoff ?? RETRY, this.#o.random ?? Math.random);
    this.#failures += 1;
    this.#o.onFailure(reason, delay);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#open();
    }, delay);
    this.#timer.unref();
  }
}
