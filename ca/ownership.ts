// The labels and annotations on the objects `weft ca` creates (its Secret and the trust-anchors
// ConfigMap): Helm's ownership metadata when the chart names its release, so that a later
// `helm upgrade` that renders those objects (supplied trust) adopts them instead of refusing with
// "invalid ownership metadata" (docs/rotate-trust.md).

/** The Helm release the CA's objects are marked as belonging to. */
export interface HelmRelease {
  readonly name: string;
  readonly namespace: string;
}

/** Labels and annotations of one object the CA creates. */
export interface OwnerMetadata {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** What Helm checks before it adopts an existing object into a release. */
export function ownerMetadata(release: HelmRelease | undefined): OwnerMetadata {
  if (release === undefined) return { labels: { 'app.kubernetes.io/managed-by': 'weft-ca' }, annotations: {} };
  return {
    // Helm adopts an object only with exactly this label value and both annotations naming the release.
    labels: { 'app.kubernetes.io/managed-by': 'Helm' },
    annotations: {
      'meta.helm.sh/release-name': release.name,
      'meta.helm.sh/release-namespace': release.namespace,
      // Who wrote it, since the label now names Helm.
      'weft.dev/created-by': 'weft-ca',
    },
  };
}

/** An object's metadata with the owner's labels and annotations laid over what it already has. */
export function withOwner(
  existing: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined,
  owner: OwnerMetadata,
): { labels: Record<string, string>; annotations?: Record<string, string> } {
  const labels = { ...(existing?.labels ?? {}), ...owner.labels };
  const annotations = { ...(existing?.annotations ?? {}), ...owner.annotations };
  return Object.keys(annotations).length > 0 ? { labels, annotations } : { labels };
}
