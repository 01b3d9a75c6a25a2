// Parses the core v1 objects a route file may carry: Secrets (TLS certificates), ConfigMaps (client
// CA bundles) and Services (named ports and their appProtocol).
import type { FieldReader, Json } from './field-reader.js';
import type { ObjectMeta } from './object-meta.js';

/** A Secret or ConfigMap: its data, decoded. */
export interface SecretSpec {
  readonly meta: ObjectMeta;
  readonly data: Readonly<Record<string, string>>;
}

/** A Service: its ports, for backendRefs that name a port. */
export interface ServiceSpec {
  readonly meta: ObjectMeta;
  readonly ports: readonly { name?: string; port: number; appProtocol?: string }[];
}

/** Reads `data` (base64 for a Secret) and `stringData`. */
export function readData(r: FieldReader, obj: Json, kind: string): Record<string, string> {
  const data: Record<string, string> = {};
  const raw = r.obj(obj, 'data', '');
  if (raw) {
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') r.problem(`data.${k}`, 'must be a string');
      else data[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    }
  }
  const str = r.obj(obj, 'stringData', '');
  if (str) for (const [k, v] of Object.entries(str)) if (typeof v === 'string') data[k] = v;
  return data;
}

/** Reads a Service's ports. */
export function readService(r: FieldReader, meta: ObjectMeta, spec: Json): ServiceSpec {
  const ports = r.objs(spec, 'ports', 'spec').flatMap((p, i) => {
    const port = r.int(p, 'port', `spec.ports[${i}]`, { required: true, min: 1, max: 65535 });
    const name = r.str(p, 'name', `spec.ports[${i}]`);
    const appProtocol = r.str(p, 'appProtocol', `spec.ports[${i}]`);
    return port === undefined ? [] : [{ port, ...(name === undefined ? {} : { name }), ...(appProtocol === undefined ? {} : { appProtocol }) }];
  });
  return { meta, ports };
}
