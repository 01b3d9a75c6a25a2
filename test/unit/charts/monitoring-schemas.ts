// Schemas of the Prometheus operator kinds the chart can render (monitoring.coreos.com/v1), which
// kubernetes-models does not ship: the fields weft uses, with the operator CRDs' types, required
// keys and enums; unknown fields are refused, as the API server's strict validation would.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Doc } from './helm.js';

const str = { type: 'string' };
const duration = { type: 'string', pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' };
const strMap = { type: 'object', additionalProperties: str };
const labelSelector = {
  type: 'object', additionalProperties: false,
  properties: { matchLabels: strMap, matchExpressions: { type: 'array', items: { type: 'object', required: ['key', 'operator'], additionalProperties: false, properties: { key: str, operator: str, values: { type: 'array', items: str } } } } },
};
const metadata = {
  type: 'object', required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }, namespace: str, labels: strMap, annotations: strMap },
};
const secretKey = { type: 'object', required: ['key'], additionalProperties: false, properties: { name: str, key: str, optional: { type: 'boolean' } } };
const tlsConfig = {
  type: 'object', additionalProperties: false,
  properties: {
    serverName: str, insecureSkipVerify: { type: 'boolean' },
    ca: { type: 'object', additionalProperties: false, properties: { secret: secretKey, configMap: secretKey } },
  },
};
const endpoint = (extra: Record<string, unknown>): Record<string, unknown> => ({
  type: 'object', additionalProperties: false,
  properties: { port: str, path: str, scheme: { enum: ['http', 'https'] }, interval: duration, scrapeTimeout: duration, honorLabels: { type: 'boolean' }, ...extra },
});
const kind = (k: string, spec: Record<string, unknown>): Record<string, unknown> => ({
  type: 'object', required: ['apiVersion', 'kind', 'metadata', 'spec'], additionalProperties: false,
  properties: { apiVersion: { const: 'monitoring.coreos.com/v1' }, kind: { const: k }, metadata, spec },
});
const namespaceSelector = { type: 'object', additionalProperties: false, properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: str } } };

const SCHEMAS: Readonly<Record<string, Record<string, unknown>>> = {
  PodMonitor: kind('PodMonitor', {
    type: 'object', required: ['selector'], additionalProperties: false,
    properties: { selector: labelSelector, namespaceSelector, podMetricsEndpoints: { type: 'array', minItems: 1, items: endpoint({}) } },
  }),
  ServiceMonitor: kind('ServiceMonitor', {
    type: 'object', required: ['selector', 'endpoints'], additionalProperties: false,
    properties: { selector: labelSelector, namespaceSelector, endpoints: { type: 'array', minItems: 1, items: endpoint({ tlsConfig }) } },
  }),
  PrometheusRule: kind('PrometheusRule', {
    type: 'object', additionalProperties: false,
    properties: {
      groups: {
        type: 'array', minItems: 1,
        items: {
          type: 'object', required: ['name', 'rules'], additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1 }, interval: duration,
            rules: {
              type: 'array',
              items: {
                type: 'object', required: ['expr'], additionalProperties: false,
                properties: { alert: str, record: str, expr: { type: 'string', minLength: 1 }, for: duration, labels: strMap, annotations: strMap },
              },
            },
          },
        },
      },
    },
  }),
};

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>(Object.entries(SCHEMAS).map(([k, s]) => [k, ajv.compile(s)]));

/** Every problem with one monitoring.coreos.com object; empty when it validates. */
export function monitoringProblems(doc: Doc): string[] {
  const where = `${String(doc.kind)} ${String(doc.metadata?.name)}`;
  const validate = compiled.get(String(doc.kind));
  if (!validate) return [`${where}: no schema for kind ${String(doc.kind)}`];
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${where}: ${e.instancePath} ${e.message ?? ''}`);
}
