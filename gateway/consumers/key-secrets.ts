// Where kubernetes mode finds consumers' key hashes: Secrets carrying the weft.dev/consumer-keys
// label, watched (not polled) so that an added or removed key applies within the route debounce.
import type { RouteResource } from '../sources/kube-routes.js';

/** The label that marks a Secret as holding consumers' key hashes (any value). */
export const CONSUMER_KEYS_LABEL = 'weft.dev/consumer-keys';

/** The watched collection: Secrets in every namespace with the label. */
export const CONSUMER_KEY_SECRETS: RouteResource = { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', labelSelector: CONSUMER_KEYS_LABEL };
