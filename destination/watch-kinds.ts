// The kinds a proxy may subscribe to at `GET /v1/watch/<kind>?...`. Each kind is one object here:
// how its query names a subscription, and how to feed it. The server knows nothing else about
// kinds, so adding one (mesh policies, routes) is one more entry in the registry the composition
// builds (docs/destination.md "Adding a kind").
import { WeftError } from '../lib/errors.js';
import { sameSnapshot } from '../mesh/discovery/kube-snapshot.js';
import type { ServiceRef, ServiceSnapshot } from '../mesh/discovery/endpoint-source.js';
import type { ClusterIndex } from './cluster-index.js';

/** Who is asking: the SPIFFE identity of the proxy's client certificate, and its namespace. */
export interface Caller {
  readonly identity: string;
  readonly namespace: string;
}

/** One kind of subscription. */
export interface WatchKind<Key> {
  /** The `<kind>` path segment. */
  readonly name: string;
  /**
   * The subscription key from the query string, or a WeftError (answered 400, or 403 when the
   * caller may not see it: a per-namespace kind can refuse other namespaces here).
   */
  parse(query: URLSearchParams, caller: Caller): Key | WeftError;
  /**
   * Starts feeding `send` with full values (the first as soon as it is known, then one per
   * change); returns the stop function the server calls when the stream ends.
   */
  subscribe(key: Key, send: (value: unknown) => void): () => void;
}

/** A kind with its key type erased, as the registry holds it. */
export type AnyWatchKind = WatchKind<unknown>;

/** Kubernetes object names: a DNS-1123 label (namespaces, services). */
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The wire form of a snapshot: JSON has no undefined, so an unknown service is `endpoints: null`. */
export function snapshotToWire(s: ServiceSnapshot): unknown {
  return { ref: s.ref, endpoints: s.endpoints ?? null, ...(s.opaquePorts ? { opaquePorts: s.opaquePorts } : {}) };
}

/** `endpoints`: one service port's snapshots (`?namespace=&name=&port=`). Any meshed caller may ask. */
export function endpointsKind(index: ClusterIndex): WatchKind<ServiceRef> {
  const subscribers = new Map<string, { ref: ServiceRef; last: ServiceSnapshot | undefined; sends: Set<(v: unknown) => void> }>();
  const publish = (entry: { ref: ServiceRef; last: ServiceSnapshot | undefined; sends: Set<(v: unknown) => void> }): void => {
    const snap = index.snapshot(entry.ref);
    if (!snap || sameSnapshot(entry.last, snap)) return;
    entry.last = snap;
    const wire = snapshotToWire(snap);
    for (const send of entry.sends) send(wire);
  };
  index.onChange((changed) => {
    for (const entry of subscribers.values()) {
      if (changed === 'all' || changed.has(`${entry.ref.namespace}/${entry.ref.name}`)) publish(entry);
    }
  });
  return {
    name: 'endpoints',
    parse(query) {
      const namespace = query.get('namespace') ?? '';
      const name = query.get('name') ?? '';
      const port = Number(query.get('port'));
      if (!LABEL.test(namespace) || !LABEL.test(name) || !Number.isInteger(port) || port < 1 || port > 65535) {
        return new WeftError('WEFT_ERR_BAD_REQUEST', 'endpoints needs namespace and name (DNS labels) and port (1-65535)');
      }
      return { namespace, name, port };
    },
    subscribe(ref, send) {
      const key = `${ref.namespace}/${ref.name}:${ref.port}`;
      let entry = subscribers.get(key);
      if (!entry) {
        entry = { ref, last: undefined, sends: new Set() };
        subscribers.set(key, entry);
      }
      entry.sends.add(send);
      if (entry.last) send(snapshotToWire(entry.last));
      else publish(entry);
      const held = entry;
      return () => {
        held.sends.delete(send);
        if (held.sends.size === 0 && subscribers.get(key) === held) subscribers.delete(key);
      };
    },
  };
}
