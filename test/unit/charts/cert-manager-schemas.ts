// Schemas of the cert-manager kinds the chart can render (cert-manager.io/v1 Certificate and Issuer),
// which kubernetes-models does not ship: the fields of cert-manager's v1 CRDs that a Certificate or
// an Issuer of the kinds weft renders (selfSigned, ca) may hold, with their types, required keys and
// enums; unknown fields are refused, as the API server's strict validation would.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Doc } from './helm.js';

const str = { type: 'string' };
const strMap = { type: 'object', additionalProperties: str };
// Go's time.ParseDuration units, as cert-manager reads duration and renewBefore.
const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' };
const metadata = {
  type: 'object', required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }, namespace: str, labels: strMap, annotations: strMap },
};
const USAGES = [
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment', 'cert sign', 'crl sign',
  'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing', 'email protection', 's/mime', 'ipsec end system',
  'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc',
];
const kind = (k: string, spec: Record<string, unknown>): Record<string, unknown> => ({
  type: 'object', required: ['apiVersion', 'kind', 'metadata', 'spec'], additionalProperties: false,
  properties: { apiVersion: { const: 'cert-manager.io/v1' }, kind: { const: k }, metadata, spec },
});

const SCHEMAS: Readonly<Record<string, Record<string, unknown>>> = {
  Certificate: kind('Certificate', {
    type: 'object', required: ['secretName', 'issuerRef'], additionalProperties: false,
    properties: {
      secretName: { type: 'string', minLength: 1 },
      issuerRef: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, kind: str, group: str } },
      commonName: { type: 'string', maxLength: 64 },
      dnsNames: { type: 'array', items: str },
      ipAddresses: { type: 'array', items: str },
      uris: { type: 'array', items: str },
      duration, renewBefore: duration,
      isCA: { type: 'boolean' },
      usages: { type: 'array', items: { enum: USAGES } },
      privateKey: {
        type: 'object', additionalProperties: false,
        properties: { algorithm: { enum: ['RSA', 'ECDSA', 'Ed25519'] }, size: { type: 'integer' }, rotationPolicy: { enum: ['Never', 'Always'] }, encoding: { enum: ['PKCS1', 'PKCS8'] } },
      },
      secretTemplate: { type: 'object', additionalProperties: false, properties: { labels: strMap, annotations: strMap } },
      revisionHistoryLimit: { type: 'integer', minimum: 1 },
    },
  }),
  Issuer: kind('Issuer', {
    type: 'object', additionalProperties: false, minProperties: 1, maxProperties: 1,
    properties: {
      selfSigned: { type: 'object', additionalProperties: false, properties: { crlDistributionPoints: { type: 'array', items: str } } },
      ca: { type: 'object', required: ['secretName'], additionalProperties: false, properties: { secretName: { type: 'string', minLength: 1 }, crlDistributionPoints: { type: 'array', items: str }, ocspServers: { type: 'array', items: str } } },
    },
  }),
};

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>(Object.entries(SCHEMAS).map(([k, s]) => [k, ajv.compile(s)]));

/** Every problem with one cert-manager.io object; empty when it validates. */
export function certManagerProblems(doc: Doc): string[] {
  const where = `${String(doc.kind)} ${String(doc.metadata?.name)}`;
  const validate = compiled.get(String(doc.kind));
  if (!validate) return [`${where}: no schema for kind ${String(doc.kind)}`];
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${where}: ${e.instancePath} ${e.message ?? ''}`);
}
