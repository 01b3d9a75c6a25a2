// The one reader of route objects: plain objects, from the route file's YAML documents or from the
// API server, become typed, validated resources (Gateway API v1 Gateway/HTTPRoute, ReferenceGrant,
// Ingress v1, Secret, ConfigMap, Namespace, Service and the weft policy kinds), each kind read by
// its own module. Every problem is reported with source, document and field path.
import { parseAllDocuments } from 'yaml';
import { readData, readService, type SecretSpec, type ServiceSpec } from './core-objects.js';
import { FieldReader, ProblemList, type DocPlace, type Json } from './field-reader.js';
import { readGateway, type GatewaySpec } from './gateway-spec.js';
import { readHttpRoute, type HttpRouteSpec } from './http-route.js';
import { readIngress, type IngressSpec } from './ingress.js';
import { GATEWAY_API_GROUP, readMeta, type ObjectMeta } from './object-meta.js';
import { readGrant, type ReferenceGrantSpec } from './reference-grant.js';

// Each kind's types live with its reader; they are re-exported so a ResourceSet reads from one place.
export { GATEWAY_API_GROUP, WEFT_CLASS, type ObjectMeta } from './object-meta.js';
export type { GatewaySpec, ListenerSpec } from './gateway-spec.js';
export type { HeaderMatch, HttpRouteSpec, ParentRef, PathMatch, RouteMatch, RuleSpec, StringMatchType } from './http-route.js';
export type { BackendRefSpec, FilterSpec, HeaderModifier, PathModifier } from './filter-specs.js';
export type { IngressPath, IngressSpec } from './ingress.js';
export type { ReferenceGrantSpec } from './reference-grant.js';
export type { SecretSpec, ServiceSpec } from './core-objects.js';

/** A weft.dev/v1alpha1 document, handed to the policy parser as is. */
export interface PolicyDoc {
  readonly kind: string;
  readonly meta: ObjectMeta;
  readonly spec: Json;
  readonly reader: FieldReader;
}

/** Everything a route file declares. */
export interface ResourceSet {
  readonly gateways: readonly GatewaySpec[];
  readonly routes: readonly HttpRouteSpec[];
  readonly ingresses: readonly IngressSpec[];
  readonly grants: readonly ReferenceGrantSpec[];
  readonly secrets: readonly SecretSpec[];
  readonly configMaps: readonly SecretSpec[];
  readonly namespaces: readonly { name: string; labels: Readonly<Record<string, string>> }[];
  readonly services: readonly ServiceSpec[];
  readonly policies: readonly PolicyDoc[];
}

/** What reading a set of objects gives: the resources and every problem found. */
export interface ParsedResources {
  readonly resources: ResourceSet;
  /** Callers refuse the whole set when there is any. */
  readonly problems: readonly string[];
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Parses a multi-document YAML route file into plain objects and reads them. A document with a
 * YAML syntax error is reported and skipped; the others keep their document numbers.
 */
export function parseResources(text: string, file: string, defaultNamespace = 'default'): ParsedResources {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const syntaxErrors = new Map<number, readonly string[]>();
  const objects = list.map((d, i): unknown => {
    if (d.errors.length === 0) return d.toJS() as unknown;
    syntaxErrors.set(i, d.errors.map((e) => e.message.split('\n')[0] ?? e.message));
    return undefined;
  });
  return readResources(objects, file, { defaultNamespace, syntaxErrors });
}

/** How readResources reads a set. */
export interface ReadOptions {
  /** The namespace of an object that names none. */
  readonly defaultNamespace?: string;
  /** Document index -> YAML syntax errors (the route file); such documents are skipped. */
  readonly syntaxErrors?: ReadonlyMap<number, readonly string[]>;
}

/**
 * Reads plain Kubernetes objects (from YAML or from the API server) from `source`. Document N in
 * messages is objects[N - 1]; without a creationTimestamp, that order stands in for age.
 */
export function readResources(objects: readonly unknown[], source: string, opts: ReadOptions = {}): ParsedResources {
  const file = source;
  const defaultNamespace = opts.defaultNamespace ?? 'default';
  const problems = new ProblemList();
  const out = {
    gateways: [] as GatewaySpec[],
    routes: [] as HttpRouteSpec[],
    ingresses: [] as IngressSpec[],
    grants: [] as ReferenceGrantSpec[],
    secrets: [] as SecretSpec[],
    configMaps: [] as SecretSpec[],
    namespaces: [] as { name: string; labels: Record<string, string> }[],
    services: [] as ServiceSpec[],
    policies: [] as PolicyDoc[],
  };
  const seen = new Map<string, number>();
  objects.forEach((value, i) => {
    const docNo = i + 1;
    const basic: DocPlace = { file, doc: docNo, what: 'document' };
    const syntax = opts.syntaxErrors?.get(i);
    if (syntax) {
      for (const e of syntax) problems.add(basic, '(yaml)', e);
      return;
    }
    if (value === null || value === undefined) return; // an empty document between separators
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.add(basic, '(root)', 'a document must be a Kubernetes object');
      return;
    }
    const obj = value as Json;
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
    const md = (obj.metadata && typeof obj.metadata === 'object' ? obj.metadata : {}) as Json;
    const name = typeof md.name === 'string' ? md.name : '';
    const namespace = typeof md.namespace === 'string' ? md.namespace : defaultNamespace;
    const place: DocPlace = { file, doc: docNo, what: `${kind || '?'} ${namespace}/${name || '?'}` };
    const r = new FieldReader(problems, place);
    if (!kind) return r.problem('kind', 'is required');
    if (!apiVersion) return r.problem('apiVersion', 'is required');
    if (!name) return r.problem('metadata.name', 'is required');
    if (!NAME.test(name)) r.problem('metadata.name', `${JSON.stringify(name)} is not a DNS-1123 subdomain`);
    const key = `${apiVersion.split('/')[0]}/${kind}/${namespace}/${name}`;
    const dup = seen.get(key);
    if (dup !== undefined) r.problem('metadata.name', `duplicates document ${dup}`);
    seen.set(key, docNo);
    const meta = readMeta(r, md, namespace, name, place, docNo);
    const spec = r.obj(obj, 'spec', '') ?? {};
    const want = (version: string): boolean => {
      if (apiVersion === version) return true;
      r.problem('apiVersion', `${JSON.stringify(apiVersion)} is not supported for ${kind}; use ${version}`);
      return false;
    };
    switch (kind) {
      case 'Gateway':
        if (want(`${GATEWAY_API_GROUP}/v1`)) out.gateways.push(readGateway(r, meta, spec));
        return;
      case 'HTTPRoute':
        if (want(`${GATEWAY_API_GROUP}/v1`)) out.routes.push(readHttpRoute(r, meta, spec));
        return;
      case 'GatewayClass':
        want(`${GATEWAY_API_GROUP}/v1`);
        return;
      case 'ReferenceGrant':
        if (apiVersion !== `${GATEWAY_API_GROUP}/v1beta1` && apiVersion !== `${GATEWAY_API_GROUP}/v1`) {
          r.problem('apiVersion', `${JSON.stringify(apiVersion)} is not supported for ReferenceGrant; use ${GATEWAY_API_GROUP}/v1beta1`);
          return;
        }
        out.grants.push(readGrant(r, meta, spec));
        return;
      case 'Ingress':
        if (want('networking.k8s.io/v1')) {
          const ing = readIngress(r, meta, spec);
          if (ing) out.ingresses.push(ing);
        }
        return;
      case 'Secret':
      case 'ConfigMap':
        if (want('v1')) (kind === 'Secret' ? out.secrets : out.configMaps).push({ meta, data: readData(r, obj, kind) });
        return;
      case 'Namespace':
        if (want('v1')) out.namespaces.push({ name, labels: meta.labels });
        return;
      case 'Service':
        if (want('v1')) out.services.push(readService(r, meta, spec));
        return;
      default:
        if (apiVersion.startsWith('weft.dev/')) {
          if (want('weft.dev/v1alpha1')) out.policies.push({ kind, meta, spec, reader: r });
          return;
        }
        r.problem('kind', `${apiVersion} ${kind} is not a kind the gateway reads (Gateway, HTTPRoute, ReferenceGrant, Ingress, Secret, ConfigMap, Namespace, Service, weft.dev policies)`);
    }
  });
  return { resources: out, problems: problems.items };
}
