// Kubernetes mode's policy source in the proxy: one `GET /v1/watch/policies` stream to weft
// destination on the remote endpoint source's mutual-TLS session (so no API credentials and no
// second connection). The destination decides the namespace from the client certificate; each line
// is the namespace's full set, checked here with the same parser as local mode. A bad line or a
// broken stream keeps the last good set deciding; the stream reopens with capped backoff.
import { WeftError, isWeftError } from '../../lib/errors.js';
import type { BackoffPolicy } from '../../lib/backoff.js';
import type { Timers } from '../../lib/timers.js';
import { DestinationSubscription, type OpenDestinationStream } from '../destination-stream.js';
import { parsePolicySection, type PolicySet } from './policy.js';
import type { PolicySource } from './policy-source.js';
import type { Logger } from '../../lib/logger.js';

/** Options of the remote policy source. */
export interface RemotePolicySourceOptions {
  readonly open: OpenDestinationStream;
  readonly log: Logger;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

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
  readonly #listeners = new Set<(set: PolicySet) => void>();
  #namespace: string | undefined;
  #set: PolicySet | undefined;
  #subscription: DestinationSubscription | undefined;
  #closed = false;

  constructor(opts: RemotePolicySourceOptions) {
    this.#o = opts;
  }

  get synced(): boolean {
    return this.#set !== undefined;
  }

  /** `namespace` is the pod's; the destination serves that of the certificate, and a mismatch is refused. */
  watch(namespace: string, onUpdate: (set: PolicySet) => void): () => void {
    this.#namespace ??= namespace;
    this.#listeners.add(onUpdate);
    if (this.#set) onUpdate(this.#set);
    if (!this.#subscription && !this.#closed) {
      const ns = this.#namespace;
      this.#subscription = new DestinationSubscription({
        open: () => this.#o.open(`/v1/watch/policies?namespace=${encodeURIComponent(ns)}`),
        onLine: (line) => this.#onLine(line, ns),
        onFailure: (reason, retryInMs) => this.#o.log.warn({ err: reason, retryInMs }, 'policy subscription to weft destination failed; the last policies keep deciding'),
        ...(this.#o.timers ? { timers: this.#o.timers } : {}),
        ...(this.#o.backoff ? { backoff: this.#o.backoff } : {}),
        ...(this.#o.random ? { random: this.#o.random } : {}),
      });
      this.#subscription.start();
    }
    return () => this.#listeners.delete(onUpdate);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#subscription?.close();
  }

  /** A good line replaces the set (true); a bad one is logged and the last good set stays (false). */
  #onLine(line: string, namespace: string): boolean {
    let set: PolicySet;
    try {
      set = readPolicyLine(line, namespace);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      this.#o.log.warn({ code: err.code, err: err.message }, 'authorization policies from weft destination refused; keeping the last good ones');
      return false;
    }
    this.#set = set;
    this.#o.log.info({ policies: set.policies.length, source: 'weft destination' }, 'authorization policies loaded');
    for (const listener of [...this.#listeners]) listener(set);
    return true;
  }
}
