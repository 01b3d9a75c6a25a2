// The contract between the proxy's authorization and wherever policies come from (the local mesh
// file, or the control plane in Kubernetes mode): full snapshots of the pod's namespace.
import type { PolicySet } from './policy.js';

/** Where a proxy's authorization policies come from. */
export interface PolicySource {
  /**
   * Calls `onUpdate` with every new full set of the namespace's policies and defaults, the first as
   * soon as it is known; returns a function that stops the subscription.
   */
  watch(namespace: string, onUpdate: (set: PolicySet) => void): () => void;
  /** True once the source has served a set at least once. */
  readonly synced: boolean;
  /** Stops watching. */
  close(): Promise<void>;
}

/** Keeps only what targets `namespace`: each proxy sees only its own namespace's policies. */
export function forNamespace(set: PolicySet, namespace: string): PolicySet {
  const defaultPolicy = set.namespaceDefaults[namespace];
  return {
    policies: set.policies.filter((p) => p.namespace === namespace),
    namespaceDefaults: defaultPolicy ? { [namespace]: defaultPolicy } : {},
  };
}
