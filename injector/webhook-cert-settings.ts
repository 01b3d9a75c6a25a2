// `weft injector`'s rows for where its serving certificate comes from: mounted files (the chart's
// `helm` and `cert-manager` providers) or made and renewed by the injector itself (`injector`).
import { int, oneOf, setting, str } from '../lib/config.js';

/** files: read WEFT_INJECTOR_TLS_DIR; self: issue, store, renew, and keep the webhook's caBundle current. */
export const WEBHOOK_TLS_PROVIDERS = ['files', 'self'] as const;

/** One of WEBHOOK_TLS_PROVIDERS. */
export type WebhookTlsProvider = (typeof WEBHOOK_TLS_PROVIDERS)[number];

/** The rows (part of INJECTOR_SERVER_SETTINGS). */
export const WEBHOOK_CERT_SETTINGS = {
  tlsProvider: setting({ name: 'WEFT_INJECTOR_TLS_PROVIDER', type: oneOf(WEBHOOK_TLS_PROVIDERS), default: 'files', doc: '`files`: serve the mounted `tls.crt`/`tls.key`; `self`: make its own CA and serving certificate, store them in a Secret, renew at two thirds of their life and write the caBundle into the MutatingWebhookConfiguration (needs API access)' }),
  tlsSecret: setting({ name: 'WEFT_INJECTOR_TLS_SECRET', type: str('Secret name'), default: 'weft-injector-self-tls', doc: 'with `self`: the Secret in its own namespace that holds the pair (it must exist: the injector only reads and updates it)' }),
  webhookName: setting({ name: 'WEFT_INJECTOR_WEBHOOK_CONFIGURATION', type: str('name'), default: 'weft-injector', doc: 'with `self`: the MutatingWebhookConfiguration whose every webhook gets the caBundle' }),
  serviceName: setting({ name: 'WEFT_INJECTOR_SERVICE', type: str('Service name'), default: 'weft-injector', doc: 'with `self`: the Service the API server calls; the certificate names `<service>`, `<service>.<namespace>`, `.svc` and `.svc.cluster.local`' }),
  selfLifetimeSeconds: setting({ name: 'WEFT_INJECTOR_TLS_SELF_LIFETIME_SECONDS', type: int({ min: 30 }), default: 90 * 86_400, defaultDoc: '7776000 (90 days)', doc: 'with `self`: validity of the CA and serving certificate it makes; renewed at two thirds of it' }),
  selfResyncSeconds: setting({ name: 'WEFT_INJECTOR_TLS_SELF_RESYNC_SECONDS', type: int({ min: 1 }), default: 300, doc: 'with `self`: how often it re-reads its Secret and the webhook configuration between renewals (a removed caBundle is written back; a pair another replica renewed is served)' }),
} as const;

/** The DNS names the API server may use for `service` in `namespace`. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, service, `${service}.${namespace}`, `${service}.${namespace}.svc.cluster.local`];
}
