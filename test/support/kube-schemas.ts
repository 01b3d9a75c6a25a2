// Checks a Kubernetes manifest against the Kubernetes API schemas, offline: types, required fields
// and formats from the kubernetes-models OpenAPI validators, and unknown fields (what
// `kubectl apply --validate=strict` refuses) from @kubernetes/client-node's model metadata.
import * as k8s from '@kubernetes/client-node';

interface AttributeType {
  readonly name: string;
  readonly baseName: string;
  readonly type: string;
}

interface ModelClass {
  getAttributeTypeMap(): AttributeType[];
}

interface ValidatingModel {
  validate(): void;
}

type ModelCtor = new (data: unknown) => ValidatingModel;

const models = k8s as unknown as Record<string, unknown>;

function modelClass(type: string): ModelClass | undefined {
  const c = models[type] as Partial<ModelClass> | undefined;
  return c && typeof c.getAttributeTypeMap === 'function' ? (c as ModelClass) : undefined;
}

/** The kubernetes-models module path of an apiVersion ("v1", "apps/v1", ...). */
function modelsModule(apiVersion: string): string {
  return `kubernetes-models/${apiVersion}`;
}

/** client-node's class name of a kind, e.g. apps/v1 Deployment -> V1Deployment. */
function clientClassName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

/** Paths of fields the schema does not know, like the API server's strict field validation. */
export function unknownFields(obj: unknown, type: string, path = ''): string[] {
  if (obj === null || obj === undefined) return [];
  const arrayOf = /^Array<(.+)>$/.exec(type);
  if (arrayOf) {
    if (!Array.isArray(obj)) return [`${path}: expected a list`];
    return obj.flatMap((x, i) => unknownFields(x, arrayOf[1] as string, `${path}[${i}]`));
  }
  const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (mapOf) {
    if (typeof obj !== 'object' || Array.isArray(obj)) return [`${path}: expected a map`];
    return Object.entries(obj).flatMap(([k, v]) => unknownFields(v, mapOf[1] as string, `${path}.${k}`));
  }
  const cls = modelClass(type);
  if (!cls) return [];
  if (typeof obj !== 'object' || Array.isArray(obj)) return [`${path}: expected an object (${type})`];
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  const problems: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    let t = attrs.get(key);
    if (t === undefined) {
      problems.push(`${path}.${key}: unknown field in ${type}`);
      continue;
    }
    // client-node types these JSON-schema fields as any; in a CRD they hold schemas.
    if (type === 'V1JSONSchemaProps' && (key === 'items' || key === 'additionalProperties') && typeof value === 'object') {
      t = 'V1JSONSchemaProps';
    }
    problems.push(...unknownFields(value, t, `${path}.${key}`));
  }
  return problems;
}

/** Every problem with one manifest; an empty list means it validates. */
export async function manifestProblems(obj: Record<string, unknown>): Promise<string[]> {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const where = `${kind} ${String((obj.metadata as { name?: string } | undefined)?.name ?? '?')}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modelsModule(apiVersion))) as Record<string, unknown>;
  } catch {
    return [`${where}: apiVersion ${apiVersion} has no schema`];
  }
  const Ctor = mod[kind] as ModelCtor | undefined;
  if (!Ctor) return [`${where}: ${apiVersion} has no kind ${kind}`];
  const problems: string[] = [];
  try {
    new Ctor(obj).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  const cls = clientClassName(apiVersion, kind);
  if (!modelClass(cls)) problems.push(`${where}: no field metadata for ${cls}`);
  else problems.push(...unknownFields(obj, cls).map((p) => `${where}: ${p.slice(1)}`));
  return problems;
}
