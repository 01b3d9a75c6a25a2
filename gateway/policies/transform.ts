// TransformPolicy: its parser and its step. The step edits the upstream query string and hands
// the body edits to the request-body step and the response hook (gateway/transform/).
import type { FieldReader, Json } from '../routes/field-reader.js';
import { CONTINUE, type StepResult } from '../chain.js';
import type { Named, PolicyExchange, PolicyModule } from './policy.js';
import { parsePointer, type JsonEdit, type Pointer } from '../transform/json-edit.js';
import { editQuery, hasQueryEdits, type QueryEdits } from '../transform/query-edit.js';
import type { BodyEdits, TransformConfig } from '../transform/transform-config.js';

export type { BodyEdits, TransformConfig } from '../transform/transform-config.js';

/** The body cap when a policy sets none: a JSON body is held whole while it is edited. */
export const DEFAULT_TRANSFORM_MAX_BYTES = 1024 * 1024;
/** The largest cap a policy may set. */
export const MAX_TRANSFORM_MAX_BYTES = 64 * 1024 * 1024;

const NAME_MAX = 256;

function readQuery(r: FieldReader, q: Json, path: string): QueryEdits {
  r.known(q, path, ['rename', 'remove', 'set', 'add']);
  const checkName = (name: string, at: string): void => {
    if (name === '' || name.length > NAME_MAX) r.problem(at, `a parameter name must be 1 to ${NAME_MAX} characters`);
  };
  const rename = r.objs(q, 'rename', path, { max: 16 }).map((o, i): [string, string] => {
    const at = `${path}.rename[${i}]`;
    r.known(o, at, ['from', 'to']);
    const from = r.str(o, 'from', at, { required: true }) ?? '';
    const to = r.str(o, 'to', at, { required: true }) ?? '';
    checkName(from, `${at}.from`);
    checkName(to, `${at}.to`);
    if (from !== '' && from === to) r.problem(at, `renames ${JSON.stringify(from)} to itself`);
    return [from, to];
  });
  const remove = r.strs(q, 'remove', path);
  remove.forEach((n, i) => checkName(n, `${path}.remove[${i}]`));
  const pairs = (key: 'set' | 'add'): [string, string][] =>
    r.objs(q, key, path, { max: 16 }).map((o, i) => {
      const at = `${path}.${key}[${i}]`;
      r.known(o, at, ['name', 'value']);
      const name = r.str(o, 'name', at, { required: true }) ?? '';
      checkName(name, `${at}.name`);
      const value = r.str(o, 'value', at, { required: true }) ?? '';
      return [name, value];
    });
  const set = pairs('set');
  const add = pairs('add');
  const setNames = new Set(set.map(([n]) => n));
  if (setNames.size < set.length) r.problem(`${path}.set`, 'names a parameter more than once');
  for (const n of remove) if (setNames.has(n)) r.problem(`${path}.remove`, `${JSON.stringify(n)} is also set: remove it or set it, not both`);
  return { rename, remove, set, add };
}

function readPointer(r: FieldReader, o: Json, key: string, at: string): Pointer | undefined {
  const text = r.str(o, key, at, { required: true });
  if (text === undefined) return undefined;
  const p = parsePointer(text);
  if (typeof p === 'string') {
    r.problem(`${at}.${key}`, `${JSON.stringify(text)} is not a JSON Pointer: ${p}`);
    return undefined;
  }
  return p;
}

// A value a YAML document may hold that JSON cannot (a timestamp, a non-finite number) is refused here.
function jsonProblem(v: unknown): string | undefined {
  if (v === undefined) return 'is required';
  if (typeof v === 'number' && !Number.isFinite(v)) return 'must be a finite number';
  if (v instanceof Date) return 'must be a JSON value (quote a timestamp)';
  if (Array.isArray(v)) return v.map(jsonProblem).find((p) => p !== undefined);
  if (typeof v === 'object' && v !== null) return Object.values(v).map(jsonProblem).find((p) => p !== undefined);
  return undefined;
}

function readBody(r: FieldReader, b: Json, path: string): BodyEdits {
  r.known(b, path, ['maxBytes', 'edits']);
  const maxBytes = r.int(b, 'maxBytes', path, { min: 1, max: MAX_TRANSFORM_MAX_BYTES }) ?? DEFAULT_TRANSFORM_MAX_BYTES;
  const edits: JsonEdit[] = [];
  const list = r.objs(b, 'edits', path, { required: true, max: 32 });
  if (list.length === 0 && Array.isArray(b.edits)) r.problem(`${path}.edits`, 'must hold at least one edit');
  list.forEach((e, i) => {
    const at = `${path}.edits[${i}]`;
    const op = r.str(e, 'op', at, { required: true, oneOf: ['set', 'remove', 'rename'] });
    if (op === 'set') {
      r.known(e, at, ['op', 'path', 'value']);
      const p = readPointer(r, e, 'path', at);
      const problem = jsonProblem(e.value);
      if (problem) r.problem(`${at}.value`, problem);
      if (p && !problem) edits.push({ op, path: p, value: e.value });
    } else if (op === 'remove') {
      r.known(e, at, ['op', 'path']);
      const p = readPointer(r, e, 'path', at);
      if (p && p.tokens.length === 0) r.problem(`${at}.path`, 'cannot remove the whole document');
      else if (p) edits.push({ op, path: p });
    } else if (op === 'rename') {
      r.known(e, at, ['op', 'from', 'path']);
      const from = readPointer(r, e, 'from', at);
      const to = readPointer(r, e, 'path', at);
      if (from && from.tokens.length === 0) r.problem(`${at}.from`, 'cannot move the whole document');
      else if (from && to && to.text.startsWith(`${from.text}/`)) r.problem(`${at}.path`, 'cannot move a value into itself');
      else if (from && to) edits.push({ op, path: from, to });
    }
  });
  return { maxBytes, edits };
}

/** Reads a TransformPolicy spec. */
export function parseTransformPolicy(spec: Json, r: FieldReader): TransformConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'query', 'requestBody', 'responseBody']);
  const q = r.obj(spec, 'query', 'spec');
  const query = q ? readQuery(r, q, 'spec.query') : undefined;
  const rb = r.obj(spec, 'requestBody', 'spec');
  const sb = r.obj(spec, 'responseBody', 'spec');
  const cfg: TransformConfig = {
    query: query && hasQueryEdits(query) ? query : undefined,
    requestBody: rb ? readBody(r, rb, 'spec.requestBody') : undefined,
    responseBody: sb ? readBody(r, sb, 'spec.responseBody') : undefined,
  };
  if (!cfg.query && !cfg.requestBody && !cfg.responseBody && !q) r.problem('spec', 'needs at least one of query, requestBody, responseBody');
  return cfg;
}

/** Edits the upstream query string now; the body edits are applied by the steps that read bodies. */
export function transformStep(x: PolicyExchange, policy: Named<TransformConfig>): StepResult {
  const q = policy.value.query;
  if (q) x.upstreamSearch = editQuery(x.upstreamSearch, q);
  x.transform = policy;
  return CONTINUE;
}

/** The TransformPolicy kind. */
export const transformPolicy: PolicyModule<TransformConfig> = { kind: 'TransformPolicy', parse: parseTransformPolicy, step: transformStep };
