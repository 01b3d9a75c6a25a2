// Kubernetes mode's policy source in the proxy: one `GET /v1/watch/policies` stream to weft
// destination on the remote endpoint source's mutual-TLS session (so no API credentials and no
// second connection). The destination decides the namespace from the client certificate; each line
// is the namespace's full set, checked here with the same parser as local mode. A bad line or a
// broken stream keeps the last good set deciding; the stream reopens with capped backoff.
import http2, { type ClientHttp2Stream } from 'node:http2';
import { WeftError, isWeftError } from '../../lib/errors.js';
import { backoffDelayMs, type BackoffPolicy } from '../../lib/backoff.js';
import { realTimers, type TimerHandle, type Timers } from '../../lib/timers.js';
import { parsePolicySection, type PolicySet } from './policy.js';
import type { PolicySource } from './policy-source.js';
import type { Logger } from '../../lib/logger.js';

/** Opens a GET stream to weft destination (RemoteEndpointSource.openStream). */
export type OpenDestinationStream = (path: string) => ClientHttp2Stream;

/** Options of the remote policy source. */
export interface RemotePolicySourceOptions {
  readonly open: OpenDestinationStream;
  readonly log: Logger;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

const RETRY: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

/**
 * One line of the `policies` kind as a PolicySet (pure); throws WEFT_ERR_AUTHZ_POLICY when it is
 * not one for `namespace`.
 */
export function readPolicyLine(line: string, namespace: string): PolicySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new WeftError('WEFT_ERR_AUTHZ_POLICY', 'weft destination sent a policy line that is not JSON');
  }
  const p = (parsed ?? {}) as { namespace?: unknown; defaultInboundPolicy?: unknown; policies?: unknown };
  if (p.namespace !== namespace) throw new WeftError('WEFT_ERR_AUTHZ_POLICY', `weft destination sent the policies of namespace ${JSON.stringify(p.namespace)}, not ${namespace}`);
  const namespaces = p.defaultInboundPolicy === null || p.defaultInboundPolicy === undefined ? {} : { [namespace]: { defaultInboundPolicy: p.defaultInboundPolicy } };
  return parsePolicySection({ namespaces, policies: p.policies }, 'weft destination');
}

/** PolicySource over `weft destination`'s `policies` kind. */
export class RemotePolicySource implements PolicySource {
  readonly #o: RemotePolicySourceOptions;
  readonly #clock: Timers;
  readonly #listeners = new Set<(set: PolicySet) => void>();
  #namespace: string | undefined;
  #set: PolicySet | undefined;
  #stream: ClientHttp2Stream | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #closed = false;

  constructor(opts: RemotePolicySourceOptions) {
    this.#o = opts;
    this.#clock = opts.timers ?? realTimers;
  }

  get synced(): boolean {
    return this.#set !== undefined;
  }

  /** `namespace` is the pod's; the destination serves that of the certificate, and a mismatch is refused. */
  watch(namespace: string, onUpdate: (set: PolicySet) => void): () => void {
    this.#namespace ??= namespace;
    this.#listeners.add(onUpdate);
    if (this.#set) onUpdate(this.#set);
    if (!this.#stream && !this.#timer) this.#openStream();
    return () => this.#listeners.delete(onUpdate);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close(http2.constants.NGHTTP2_CANCEL);
  }

  #openStream(): void {
    if (this.#closed) return;
    const namespace = this.#namespace ?? '';
    let stream: ClientHttp2Stream;
    try {
      stream = this.#o.open(`/v1/watch/policies?namespace=${encodeURIComponent(namespace)}`);
    } catch (err) {
      this.#retry((err as Error).message);
      return;
    }
    this.#stream = stream;
    let status = 0;
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      if (status !== 200) return;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.#onLine(line, namespace);
      }
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (this.#stream !== stream) return; // closed by us
      this.#stream = undefined;
      this.#retry(status === 200 || status === 0 ? 'policy stream to weft destination ended' : `weft destination answered ${status}: ${buffered.slice(0, 200)}`);
    });
  }

  #onLine(line: string, namespace: string): void {
    let set: PolicySet;
    try {
      set = readPolicyLine(line, namespace);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      this.#o.log.warn({ code: err.code, err: err.message }, 'authorization policies from weft destination refused; keeping the last good ones');
      return;
    }
    this.#failures = 0;
    this.#set = set;
    this.#o.log.info({ policies: set.policies.length, source: 'weft destination' }, 'authorization policies loaded');
    for (const listener of [...this.#listeners]) listener(set);
  }

  #retry(reason: string): void {
    if (this.#closed) return;
    const delay = backoffDelayMs(this.#failures, this.#o.backoff ?? RETRY, this.#o.random ?? Math.random);
    this.#failures += 1;
    this.#o.log.warn({ err: reason, retryInMs: delay }, 'policy subscription to weft destination failed; the last policies keep deciding');
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#openStream();
    }, delay);
    this.#timer.unref();
  }
}
