// weft destination's view of authorization: every AuthorizationPolicy (policy.weft.dev/v1alpha1)
// and every Namespace's `config.weft.dev/default-inbound-policy` annotation, cluster-wide, and the
// `policies` watch kind that serves a proxy the policies and default of its own namespace only
// (the namespace of its client certificate's SPIFFE ID; there is no query parameter to ask for
// another). A cluster without the CRD serves no policies (WatchLoop treats an absent kind as empty).
import { Counter, type Registry } from 'prom-client';
import { WeftError } from '../lib/errors.js';
import { WatchLoop, objectKey, type KubeObjectMeta, type WatchChange } from '../lib/kube/watch.js';
import { resourcePath, type KubeClient } from '../lib/kube/client.js';
import { isDefaultInboundPolicy, parsePolicyObject, POLICY_API_VERSION, type DefaultInboundPolicy } from '../mesh/authz/policy.js';
import type { Logger } from '../lib/logger.js';
import type { Timers } from '../lib/timers.js';
import type { BackoffPolicy } from '../lib/backoff.js';
import type { WatchKind } from './watch-kinds.js';

/** The Namespace annotation naming the namespace's default inbound policy. */
export const DEFAULT_INBOUND_POLICY_ANNOTATION = 'config.weft.dev/default-inbound-policy';

interface KubeMetaObject extends KubeObjectMeta {
  readonly metadata?: KubeObjectMeta['metadata'] & { readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: unknown;
}

/** What the `policies` kind sends: one namespace's policies (the CRD's shape) and default. */
export interface PolicyWire {
  readonly namespace: string;
  readonly defaultInboundPolicy: DefaultInboundPolicy | null;
  readonly policies: readonly { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown }[];
}

/** Options of the index. */
export interface PolicyIndexOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly registry: Registry;
  readonly timers?: Timers;
  readonly backoff?: BackoffPolicy;
}

/** AuthorizationPolicies and namespace defaults, cluster-wide, with per-namespace subscribers. */
export class PolicyIndex {
  readonly #log: Logger;
  readonly #loops: WatchLoop<KubeMetaObject>[];
  /** namespace -> name -> the valid policy object (CRD shape). */
  readonly #policies = new Map<string, Map<string, PolicyWire['policies'][number]>>();
  readonly #defaults = new Map<string, DefaultInboundPolicy>();
  readonly #synced = new Set<string>();
  readonly #subscribers = new Map<string, { last: string | undefined; sends: Set<(v: unknown) => void> }>();

  constructor(opts: PolicyIndexOptions) {
    this.#log = opts.log;
    const restarts = new Counter({
      name: 'weft_destination_policy_watch_restarts_total',
      help: 'Watch restarts of the authorization-policy and namespace watches, by resource and reason',
      labelNames: ['resource', 'reason'] as const,
      registers: [opts.registry],
    });
    const common = { client: opts.client, restarts, logger: opts.log, ...(opts.timers ? { timers: opts.timers } : {}), ...(opts.backoff ? { backoff: opts.backoff } : {}) };
    this.#loops = [
      new WatchLoop<KubeMetaObject>({
        ...common,
        path: resourcePath({ group: 'policy.weft.dev', version: 'v1alpha1', resource: 'authorizationpolicies' }),
        resourceLabel: 'authorizationpolicies',
        onChange: (c) => this.#apply('authorizationpolicies', c, (o) => this.#setPolicy(o), (o) => this.#deletePolicy(o)),
      }),
      new WatchLoop<KubeMetaObject>({
        ...common,
        path: resourcePath({ group: '', version: 'v1', resource: 'namespaces' }),
        resourceLabel: 'namespaces',
        onChange: (c) => this.#apply('namespaces', c, (o) => this.#setNamespace(o), (o) => this.#deleteNamespace(o)),
      }),
    ];
  }

  /** True once both kinds were listed (or found absent). */
  get synced(): boolean {
    return this.#synced.size === 2;
  }

  start(): void {
    for (const loop of this.#loops) loop.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#loops.map((l) => l.stop()));
  }

  /** The current value for a namespace. */
  wire(namespace: string): PolicyWire {
    const policies = [...(this.#policies.get(namespace)?.values() ?? [])].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return { namespace, defaultInboundPolicy: this.#defaults.get(namespace) ?? null, policies };
  }

  /** Feeds `send` with the namespace's value now (once synced) and on every change; returns the stop. */
  subscribe(namespace: string, send: (value: unknown) => void): () => void {
    let entry = this.#subscribers.get(namespace);
    if (!entry) {
      entry = { last: undefined, sends: new Set() };
      this.#subscribers.set(namespace, entry);
    }
    entry.sends.add(send);
    if (entry.last !== undefined) send(JSON.parse(entry.last) as unknown);
    else this.#publish(namespace);
    const held = entry;
    return () => {
      held.sends.delete(send);
      if (held.sends.size === 0 && this.#subscribers.get(namespace) === held) this.#subscribers.delete(namespace);
    };
  }

  #publish(namespace: string): void {
    const entry = this.#subscribers.get(namespace);
    if (!entry || !this.synced) return;
    const value = this.wire(namespace);
    const text = JSON.stringify(value);
    // Unchanged values are not resent (a namespace's label edit, a policy re-applied as is).
    if (text === entry.last) return;
    entry.last = text;
    for (const send of entry.sends) send(value);
  }

  #apply(resource: string, change: WatchChange<KubeMetaObject>, set: (o: KubeMetaObject) => void, del: (o: KubeMetaObject) => void): void {
    if (change.kind === 'replace') {
      if (resource === 'authorizationpolicies') {
        // Invalid objects keep their last good version across a re-list, as on an update.
        const previous = new Map([...this.#policies].map(([ns, byName]) => [ns, new Map(byName)]));
        this.#policies.clear();
        for (const o of change.objects) if (!this.#setPolicy(o)) this.#keep(previous, o);
      } else {
        this.#defaults.clear();
        for (const o of change.objects) set(o);
      }
      this.#synced.add(resource);
      for (const namespace of this.#subscribers.keys()) this.#publish(namespace);
      return;
    }
    if (change.kind === 'upsert') set(change.object);
    else del(change.object);
    this.#publish(change.object.metadata?.namespace ?? change.object.metadata?.name ?? '');
  }

  /** Stores a valid policy; false (logged) when invalid, leaving what was stored under its name. */
  #setPolicy(o: KubeMetaObject): boolean {
    const problems: string[] = [];
    const parsed = parsePolicyObject({ apiVersion: POLICY_API_VERSION, kind: 'AuthorizationPolicy', metadata: o.metadata, spec: o.spec }, objectKey(o), problems);
    if (!parsed) {
      // The CRD's schema should stop most of these. One bad object must not drop its neighbours,
      // and a bad edit of a DENY must not open what it closed: its last good version stays.
      this.#log.warn({ code: 'WEFT_ERR_AUTHZ_POLICY', policy: objectKey(o), problems }, 'authorization policy refused; its last good version (if any) is served');
      return false;
    }
    let byName = this.#policies.get(parsed.namespace);
    if (!byName) {
      byName = new Map();
      this.#policies.set(parsed.namespace, byName);
    }
    byName.set(parsed.name, { apiVersion: POLICY_API_VERSION, kind: 'AuthorizationPolicy', metadata: { name: parsed.name, namespace: parsed.namespace }, spec: o.spec });
    return true;
  }

  #keep(previous: Map<string, Map<string, PolicyWire['policies'][number]>>, o: KubeMetaObject): void {
    const namespace = o.metadata?.namespace ?? '';
    const name = o.metadata?.name ?? '';
    const good = previous.get(namespace)?.get(name);
    if (!good) return;
    let byName = this.#policies.get(namespace);
    if (!byName) {
      byName = new Map();
      this.#policies.set(namespace, byName);
    }
    byName.set(name, good);
  }

  #deletePolicy(o: KubeMetaObject): void {
    const namespace = o.metadata?.namespace ?? '';
    const byName = this.#policies.get(namespace);
    byName?.delete(o.metadata?.name ?? '');
    if (byName?.size === 0) this.#policies.delete(namespace);
  }

  #setNamespace(o: KubeMetaObject): void {
    const name = o.metadata?.name ?? '';
    const value = o.metadata?.annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION];
    if (value !== undefined && !isDefaultInboundPolicy(value)) {
      this.#log.warn({ code: 'WEFT_ERR_AUTHZ_POLICY', namespace: name, value }, `namespace annotation ${DEFAULT_INBOUND_POLICY_ANNOTATION} is not a default inbound policy; ignored`);
    }
    if (isDefaultInboundPolicy(value)) this.#defaults.set(name, value);
    else this.#defaults.delete(name);
  }

  #deleteNamespace(o: KubeMetaObject): void {
    this.#defaults.delete(o.metadata?.name ?? '');
  }
}

/** `policies`: the caller's own namespace's policies and default; no query, nothing else to ask for. */
export function policiesKind(index: PolicyIndex): WatchKind<string> {
  return {
    name: 'policies',
    parse(query, caller) {
      const asked = query.get('namespace');
      // A proxy sees only its own namespace: asking for another is refused, not silently rewritten.
      if (asked !== null && asked !== caller.namespace) return new WeftError('WEFT_ERR_FORBIDDEN', `policies: a proxy of namespace ${caller.namespace} may not watch namespace ${asked}`);
      if (caller.namespace === '') return new WeftError('WEFT_ERR_FORBIDDEN', 'policies: the client certificate names no namespace');
      return caller.namespace;
    },
    subscribe: (namespace, send) => index.subscribe(namespace, send),
  };
}
