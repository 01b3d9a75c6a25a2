// Parses a networking.k8s.io/v1 Ingress of class weft: rules, paths, the default backend and TLS.
import type { FieldReader, Json } from './field-reader.js';
import type { BackendRefSpec } from './filter-specs.js';
import { hostnameProblem } from './hostnames.js';
import { WEFT_CLASS, type ObjectMeta } from './object-meta.js';
import { pathProblem } from './paths.js';

/** One path of an Ingress rule. */
export interface IngressPath {
  readonly path: string;
  readonly pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific';
  readonly backend: BackendRefSpec;
}

/** A parsed Ingress. */
export interface IngressSpec {
  readonly meta: ObjectMeta;
  readonly defaultBackend?: BackendRefSpec;
  readonly rules: readonly { readonly host?: string; readonly paths: readonly IngressPath[] }[];
  readonly tls: readonly { readonly hosts: readonly string[]; readonly secretName: string }[];
}

function readIngressBackend(r: FieldReader, meta: ObjectMeta, b: Json, path: string): BackendRefSpec | undefined {
  const svc = r.obj(b, 'service', path);
  const res = r.obj(b, 'resource', path);
  if (res) {
    const kind = r.str(res, 'kind', `${path}.resource`, { required: true }) ?? '';
    const group = r.str(res, 'apiGroup', `${path}.resource`) ?? '';
    return { group, kind, name: r.str(res, 'name', `${path}.resource`, { required: true }) ?? '', namespace: meta.namespace, weight: 1, filters: [] };
  }
  if (!svc) {
    r.problem(path, 'needs service (or resource)');
    return undefined;
  }
  const name = r.str(svc, 'name', `${path}.service`, { required: true }) ?? '';
  const port = r.obj(svc, 'port', `${path}.service`, true) ?? {};
  const number = r.int(port, 'number', `${path}.service.port`, { min: 1, max: 65535 });
  const portName = r.str(port, 'name', `${path}.service.port`);
  if ((number === undefined) === (portName === undefined)) r.problem(`${path}.service.port`, 'needs exactly one of number and name');
  return {
    group: '',
    kind: 'Service',
    name,
    namespace: meta.namespace,
    weight: 1,
    filters: [],
    ...(number === undefined ? {} : { port: number }),
    ...(portName === undefined ? {} : { portName }),
  };
}

/** Reads an Ingress's spec; undefined for an Ingress of another class (another controller's). */
export function readIngress(r: FieldReader, meta: ObjectMeta, spec: Json): IngressSpec | undefined {
  const className = r.str(spec, 'ingressClassName', 'spec');
  // Ingresses of another class belong to another controller: skipped, not an error.
  if (className !== undefined && className !== WEFT_CLASS) return undefined;
  const db = r.obj(spec, 'defaultBackend', 'spec');
  const defaultBackend = db ? readIngressBackend(r, meta, db, 'spec.defaultBackend') : undefined;
  const rules = r.objs(spec, 'rules', 'spec').map((rule, i) => {
    const path = `spec.rules[${i}]`;
    const host = r.str(rule, 'host', path)?.toLowerCase();
    if (host !== undefined) {
      const p = hostnameProblem(host);
      if (p) r.problem(`${path}.host`, p);
    }
    const http = r.obj(rule, 'http', path) ?? {};
    const paths = r.objs(http, 'paths', `${path}.http`, { required: true }).flatMap((p, j): IngressPath[] => {
      const pp = `${path}.http.paths[${j}]`;
      const pathType = r.str(p, 'pathType', pp, { required: true, oneOf: ['Exact', 'Prefix', 'ImplementationSpecific'] }) as IngressPath['pathType'] | undefined;
      const value = r.str(p, 'path', pp) ?? '/';
      const problem = pathProblem(value);
      if (problem) r.problem(`${pp}.path`, problem);
      const b = r.obj(p, 'backend', pp, true);
      const backend = b ? readIngressBackend(r, meta, b, `${pp}.backend`) : undefined;
      return pathType && backend ? [{ path: value, pathType, backend }] : [];
    });
    return { ...(host === undefined ? {} : { host }), paths };
  });
  if (!defaultBackend && rules.length === 0) r.problem('spec', 'needs rules or a defaultBackend');
  const tls = r.objs(spec, 'tls', 'spec').flatMap((t, i) => {
    const secretName = r.str(t, 'secretName', `spec.tls[${i}]`, { required: true });
    return secretName ? [{ hosts: r.strs(t, 'hosts', `spec.tls[${i}]`).map((h) => h.toLowerCase()), secretName }] : [];
  });
  return { meta, rules, tls, ...(defaultBackend ? { defaultBackend } : {}) };
}
