// The one reader of route objects: plain objects, from the route file's YAML documents or from the
// API server, become typed, validated resources (Gateway API v1 Gateway/HTTPRoute/GRPCRoute, ReferenceGrant,
// Ingress v1, Secret, ConfigMap, Namespace, Service and the weft policy kinds), each kind read by
// its own module. Every problem is reported with source, document and field path.
import { parseAllDocuments } from 'yaml';
import { readData, readService, type SecretSpec, type ServiceSpec } from './core-objects.js';
import { FieldReader, ProblemList, type DocPlace, type Json } from './field-reader.js';
import { readGateway, type GatewaySpec } from './gateway-spec.js';
import { readHttpRoute, type HttpRouteSpec } from './http-route.js';
import { readGrpcRoute, type GrpcRouteSpec } from './grpc-route.js';
import { readIngress, type IngressSpec } from './ingress.js';
import { GATEWAY_API_GROUP, readMeta, type ObjectMeta } from './object-meta.js';
import type { ObjectCondition } from './conditions.js';
import { foreignGateways, isForeignRoute } from './foreign.js';
import { readGrant, type ReferenceGrantSpec } from './reference-grant.js';

// Each kind's types live with its reader; they are re-exported so a ResourceSet reads from one place.
export { GATEWAY_API_GROUP, WEFT_CLASS, type ObjectMeta } from './object-meta.js';
export type { GatewaySpec, ListenerSpec } from './gateway-spec.js';
export type { HeaderMatch, HttpRouteSpec, ParentRef, PathMatch, RouteMatch, RuleSpec, StringMatchType } from './http-route.js';
export type { BackendRefSpec, FilterSpec, HeaderModifier, PathModifier } from './filter-specs.js';
export type { IngressPath, IngressSpec } from './ingress.js';
export type { GrpcMethodMatch, GrpcRouteMatch, GrpcRouteSpec, GrpcRuleSpec } from './grpc-route.js';
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
  readonly grpcRoutes: readonly GrpcRouteSpec[];
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
  /** The objects read without a problem; an object with any problem is left out of it. */
  readonly resources: ResourceSet;
  /** Every problem, located; a route file is refused when there is any. */
  readonly problems: readonly string[];
  /** One Rejected condition per object left out (what kubernetes mode reports per object). */
  readonly conditions: readonly ObjectCondition[];
  /**
   * The problems that belong to no object (a YAML syntax error, a document that is not an object
   * or names no kind or name): these refuse a route file whole, since what they meant is unknown.
   */
  readonly fileProblems: readonly string[];
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Parses a multi-document YAML route file into plain objects and reads them. A document with a
 * YAML syntax error is reported and skipped; the others keep their document numbers.
 */
export function parseResources(text: string, file: string, defaultNamespace = 'default'): ParsedResources {
  const { objects, syntaxErrors } = parseDocuments(text);
  return readResources(objects, file, { defaultNamespace, syntaxErrors });
}

/** The plain objects of a multi-document YAML text (undefined where a document has a syntax error) and those errors by document index. */
export function parseDocuments(text: string): { objects: unknown[]; syntaxErrors: ReadonlyMap<number, readonly string[]> } {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const syntaxErrors = new Map<number, readonly string[]>();
  const objects = list.map((d, i): unknown => {
    if (d.errors.length === 0) return d.toJS() as unknown;
    syntaxErrors.set(i, d.errors.map((e) => e.message.split('\n')[0] ?? e.message));
    return undefined;
  });
  return { objects, syntaxErrors };
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
  const out: ResourceLists = {
    gateways: [] as GatewaySpec[],
    routes: [] as HttpRouteSpec[],
    grpcRoutes: [] as GrpcRouteSpec[],
    ingresses: [] as IngressSpec[],
    grants: [] as ReferenceGrantSpec[],
    secrets: [] as SecretSpec[],
    configMaps: [] as SecretSpec[],
    namespaces: [] as { name: string; labels: Readonly<Record<string, string>> }[],
    services: [] as ServiceSpec[],
    policies: [] as PolicyDoc[],
  };
  const seen = new Map<string, number>();
  const conditions: ObjectCondition[] = [];
  const fileProblems: string[] = [];
  // Another class's Gateways, and routes attached only to them, belong to another controller: not judged.
  const foreign = foreignGateways(objects, defaultNamespace);
  objects.forEach((value, i) => {
    const docNo = i + 1;
    const basic: DocPlace = { file, doc: docNo, what: 'document' };
    const syntax = opts.syntaxErrors?.get(i);
    if (syntax) {
      for (const e of syntax) problems.add(basic, '(yaml)', e);
      fileProblems.push(...problems.forDoc(docNo).map((p) => `${file}: document ${docNo}: ${p}`));
      return;
    }
    if (value === null || value === undefined) return; // an empty document between separators
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.add(basic, '(root)', 'a document must be a Kubernetes object');
      fileProblems.push(`${file}: document ${docNo}: (root): a document must be a Kubernetes object`);
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
    if (isForeignRoute(obj, kind, namespace, foreign)) return;
    const accept = readObject(r, { obj, kind, apiVersion, md, name, namespace, docNo }, seen);
    // The object is used only when it was read without a problem; otherwise it is rejected alone.
    if (r.problems.length === 0) accept?.(out);
    else if (kind && name) {
      const generation = typeof md.generation === 'number' ? md.generation : undefined;
      conditions.push({ kind, namespace, name, ...(generation === undefined ? {} : { generation }), type: 'Rejected', reasons: r.problems });
    } else fileProblems.push(...r.problems.map((p) => `${file}: document ${docNo} (${place.what}): ${p}`));
  });
  return { resources: out, problems: problems.items, conditions, fileProblems };
}

/** The resource lists readResources fills. */
type ResourceLists = { [K in keyof ResourceSet]: ResourceSet[K] extends readonly (infer T)[] ? T[] : never };

/** One object's raw parts, as readResources found them. */
interface RawObject {
  readonly obj: Json;
  readonly kind: string;
  readonly apiVersion: string;
  readonly md: Json;
  readonly name: string;
  readonly namespace: string;
  readonly docNo: number;
}

/** Reads one object (problems go to `r`) and returns how to add it to the set, if it is a kind the gateway keeps. */
function readObject(r: FieldReader, o: RawObject, seen: Map<string, number>): ((out: ResourceLists) => void) | undefined {
  const { obj, kind, apiVersion, md, name, namespace, docNo } = o;
  const fail = (path: string, message: string): undefined => {
    r.problem(path, message);
    return undefined;
  };
  if (!kind) return fail('kind', 'is required');
  if (!apiVersion) return fail('apiVersion', 'is required');
  if (!name) return fail('metadata.name', 'is required');
  if (!NAME.test(name)) r.problem('metadata.name', `${JSON.stringify(name)} is not a DNS-1123 subdomain`);
  const key = `${apiVersion.split('/')[0]}/${kind}/${namespace}/${name}`;
  const dup = seen.get(key);
  if (dup !== undefined) r.problem('metadata.name', `duplicates document ${dup}`);
  seen.set(key, docNo);
  const meta = readMeta(r, md, namespace, name, r.place, docNo);
  const spec = r.obj(obj, 'spec', '') ?? {};
  const want = (version: string): boolean => {
    if (apiVersion === version) return true;
    r.problem('apiVersion', `${JSON.stringify(apiVersion)} is not supported for ${kind}; use ${version}`);
    return false;
  };
  switch (kind) {
    case 'Gateway': {
      if (!want(`${GATEWAY_API_GROUP}/v1`)) return undefined;
      const g = readGateway(r, meta, spec);
      return (out) => out.gateways.push(g);
    }
    case 'HTTPRoute': {
      if (!want(`${GATEWAY_API_GROUP}/v1`)) return undefined;
      const route = readHttpRoute(r, meta, spec);
      return (out) => out.routes.push(route);
    }
    case 'GRPCRoute': {
      if (!want(`${GATEWAY_API_GROUP}/v1`)) return undefined;
      const route = readGrpcRoute(r, meta, spec);
      return (out) => out.grpcRoutes.push(route);
    }
    case 'GatewayClass':
      want(`${GATEWAY_API_GROUP}/v1`);
      return undefined;
    case 'ReferenceGrant': {
      if (apiVersion !== `${GATEWAY_API_GROUP}/v1beta1` && apiVersion !== `${GATEWAY_API_GROUP}/v1`) {
        return fail('apiVersion', `${JSON.stringify(apiVersion)} is not supported for ReferenceGrant; use ${GATEWAY_API_GROUP}/v1beta1`);
      }
      const grant = readGrant(r, meta, spec);
      return (out) => out.grants.push(grant);
    }
    case 'Ingress': {
      const ing = want('networking.k8s.io/v1') ? readIngress(r, meta, spec) : undefined;
      return ing ? (out) => out.ingresses.push(ing) : undefined;
    }
    case 'Secret':
    case 'ConfigMap': {
      if (!want('v1')) return undefined;
      const data = { meta, data: readData(r, obj, kind) };
      return (out) => (kind === 'Secret' ? out.secrets : out.configMaps).push(data);
    }
    case 'Namespace':
      return want('v1') ? (out) => out.namespaces.push({ name, labels: meta.labels }) : undefined;
    case 'Service': {
      if (!want('v1')) return undefined;
      const svc = readService(r, meta, spec);
      return (out) => out.services.push(svc);
    }
    default:
      // A policy's spec is parsed when policies are compiled; a bad one is rejected there.
      if (apiVersion.startsWith('weft.dev/')) return want('weft.dev/v1alpha1') ? (out) => out.policies.push({ kind, meta, spec, reader: r }) : undefined;
      return fail('kind', `${apiVersion} ${kind} is not a kind the gateway reads (Gateway, HTTPRoute, GRPCRoute, ReferenceGrant, Ingress, Secret, ConfigMap, Namespace, Service, weft.dev policies)`);
  }
}
