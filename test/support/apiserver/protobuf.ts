// The test API server's reader of Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`):
// the envelope (magic `k8s\0`, then runtime.Unknown{typeMeta, raw, contentEncoding, contentType})
// and the two built-in kinds client-go's typed clients write as protobuf in what the tests drive
// (Helm's release record is a Secret, or a ConfigMap with HELM_DRIVER=configmap). Field numbers
// are those of k8s.io/api/core/v1/generated.proto and k8s.io/apimachinery's meta/v1 and runtime
// generated.proto. Anything else is refused with a precise Status, never accepted half-read.
import { StatusError, type KubeMeta, type KubeObject } from './resources.js';

/** The media type of Kubernetes protobuf bodies. */
export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** One field of a protobuf message: its number and its value (varint or length-delimited bytes). */
interface Field {
  readonly num: number;
  readonly varint?: bigint;
  readonly bytes?: Buffer;
}

function bad(message: string): StatusError {
  return new StatusError(400, 'BadRequest', `the object provided is unrecognized: protobuf: ${message}`);
}

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = at; i < buf.length && shift < 70n; i++) {
    const b = buf[i] ?? 0;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, i + 1];
    shift += 7n;
  }
  throw bad('truncated varint');
}

/** The fields of one message, in wire order; wire types other than varint and bytes are refused. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at);
    const num = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, after] = readVarint(buf, next);
      out.push({ num, varint: v });
      at = after;
    } else if (wire === 2) {
      const [len, start] = readVarint(buf, next);
      const end = start + Number(len);
      if (end > buf.length) throw bad(`field ${num} runs past the end of its message`);
      out.push({ num, bytes: buf.subarray(start, end) });
      at = end;
    } else {
      // None of the messages read here has fixed32/fixed64 fields.
      throw bad(`field ${num} has wire type ${wire}, which these kinds never use`);
    }
  }
  return out;
}

function text(f: Field, where: string): string {
  if (!f.bytes) throw bad(`${where} is not a string`);
  return f.bytes.toString('utf8');
}

function bytesOf(f: Field, where: string): Buffer {
  if (!f.bytes) throw bad(`${where} is not bytes`);
  return f.bytes;
}

function varintOf(f: Field, where: string): bigint {
  if (f.varint === undefined) throw bad(`${where} is not a number`);
  return f.varint;
}

/** A map<string, V> entry: key = 1, value = 2. */
function mapEntry(f: Field, where: string): [string, Buffer] {
  let key = '';
  let value: Buffer = Buffer.alloc(0);
  for (const e of fields(bytesOf(f, where))) {
    if (e.num === 1) key = text(e, `${where} key`);
    else if (e.num === 2) value = bytesOf(e, `${where} value`);
    else throw bad(`${where} entry has field ${e.num}`);
  }
  return [key, value];
}

/** meta/v1 Time: seconds = 1, nanos = 2; rendered as the RFC 3339 seconds the JSON form uses. */
function time(f: Field, where: string): string {
  let seconds = 0n;
  for (const t of fields(bytesOf(f, where))) if (t.num === 1) seconds = varintOf(t, `${where}.seconds`);
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** meta/v1 ObjectMeta, the fields a client may set; managedFields and unknown fields are refused. */
function objectMeta(buf: Buffer): KubeMeta {
  const meta: KubeMeta = {};
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const finalizers: string[] = [];
  const owners: Record<string, unknown>[] = [];
  for (const f of fields(buf)) {
    switch (f.num) {
      case 1: meta.name = text(f, 'metadata.name'); break;
      case 2: meta.generateName = text(f, 'metadata.generateName'); break;
      case 3: meta.namespace = text(f, 'metadata.namespace'); break;
      case 4: break; // selfLink: retired, the server ignores it.
      case 5: meta.uid = text(f, 'metadata.uid'); break;
      case 6: meta.resourceVersion = text(f, 'metadata.resourceVersion'); break;
      case 7: meta.generation = Number(varintOf(f, 'metadata.generation')); break;
      case 8: meta.creationTimestamp = time(f, 'metadata.creationTimestamp'); break;
      case 9: meta['deletionTimestamp'] = time(f, 'metadata.deletionTimestamp'); break;
      case 10: meta['deletionGracePeriodSeconds'] = Number(varintOf(f, 'metadata.deletionGracePeriodSeconds')); break;
      case 11: { const [k, v] = mapEntry(f, 'metadata.labels'); labels[k] = v.toString('utf8'); break; }
      case 12: { const [k, v] = mapEntry(f, 'metadata.annotations'); annotations[k] = v.toString('utf8'); break; }
      case 13: owners.push(ownerReference(bytesOf(f, 'metadata.ownerReferences'))); break;
      case 14: finalizers.push(text(f, 'metadata.finalizers')); break;
      default: throw bad(`metadata field ${f.num} is not read by this server`);
    }
  }
  if (Object.keys(labels).length > 0) meta.labels = labels;
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  if (finalizers.length > 0) meta['finalizers'] = finalizers;
  if (owners.length > 0) meta['ownerReferences'] = owners;
  return meta;
}

/** meta/v1 OwnerReference: kind 1, name 3, uid 4, apiVersion 5, controller 6, blockOwnerDeletion 7. */
function ownerReference(buf: Buffer): Record<string, unknown> {
  const ref: Record<string, unknown> = {};
  const names: Record<number, string> = { 1: 'kind', 3: 'name', 4: 'uid', 5: 'apiVersion' };
  for (const f of fields(buf)) {
    const name = names[f.num];
    if (name !== undefined) ref[name] = text(f, `ownerReference.${name}`);
    else if (f.num === 6) ref['controller'] = varintOf(f, 'ownerReference.controller') !== 0n;
    else if (f.num === 7) ref['blockOwnerDeletion'] = varintOf(f, 'ownerReference.blockOwnerDeletion') !== 0n;
    else throw bad(`ownerReference field ${f.num}`);
  }
  return ref;
}

/** core/v1 Secret: metadata 1, data 2 (map<string, bytes>), type 3, stringData 4, immutable 5. */
function secret(raw: Buffer): KubeObject {
  const obj: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: {} };
  const data: Record<string, string> = {};
  const stringData: Record<string, string> = {};
  for (const f of fields(raw)) {
    switch (f.num) {
      case 1: obj.metadata = objectMeta(bytesOf(f, 'metadata')); break;
      case 2: { const [k, v] = mapEntry(f, 'data'); data[k] = v.toString('base64'); break; }
      case 3: obj['type'] = text(f, 'type'); break;
      case 4: { const [k, v] = mapEntry(f, 'stringData'); stringData[k] = v.toString('utf8'); break; }
      case 5: obj['immutable'] = varintOf(f, 'immutable') !== 0n; break;
      default: throw bad(`Secret field ${f.num}`);
    }
  }
  // As the real server does on write: stringData is merged into data and not stored itself.
  for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v, 'utf8').toString('base64');
  if (Object.keys(data).length > 0) obj['data'] = data;
  return obj;
}

/** core/v1 ConfigMap: metadata 1, data 2 (map<string, string>), binaryData 3, immutable 4. */
function configMap(raw: Buffer): KubeObject {
  const obj: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} };
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const f of fields(raw)) {
    switch (f.num) {
      case 1: obj.metadata = objectMeta(bytesOf(f, 'metadata')); break;
      case 2: { const [k, v] = mapEntry(f, 'data'); data[k] = v.toString('utf8'); break; }
      case 3: { const [k, v] = mapEntry(f, 'binaryData'); binaryData[k] = v.toString('base64'); break; }
      case 4: obj['immutable'] = varintOf(f, 'immutable') !== 0n; break;
      default: throw bad(`ConfigMap field ${f.num}`);
    }
  }
  if (Object.keys(data).length > 0) obj['data'] = data;
  if (Object.keys(binaryData).length > 0) obj['binaryData'] = binaryData;
  return obj;
}

const READERS: Readonly<Record<string, (raw: Buffer) => KubeObject>> = { 'v1/Secret': secret, 'v1/ConfigMap': configMap };

/**
 * The object in a protobuf body: 415 for a kind this server cannot read (as the real server
 * answers a media type a resource does not accept), 400 for a body that is not a valid envelope.
 */
export function decodeProtobufObject(body: Buffer): KubeObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw bad('the body does not start with the k8s\\0 envelope prefix');
  }
  let apiVersion = '';
  let kind = '';
  let raw: Buffer | undefined;
  let contentEncoding = '';
  for (const f of fields(body.subarray(MAGIC.length))) {
    if (f.num === 1) {
      for (const t of fields(bytesOf(f, 'typeMeta'))) {
        if (t.num === 1) apiVersion = text(t, 'typeMeta.apiVersion');
        else if (t.num === 2) kind = text(t, 'typeMeta.kind');
      }
    } else if (f.num === 2) raw = bytesOf(f, 'raw');
    else if (f.num === 3) contentEncoding = text(f, 'contentEncoding');
    else if (f.num !== 4) throw bad(`envelope field ${f.num}`);
  }
  if (contentEncoding !== '') throw bad(`content encoding ${contentEncoding} is not supported`);
  const reader = READERS[`${apiVersion}/${kind}`];
  if (!reader) {
    throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - this server reads ${PROTOBUF_MEDIA_TYPE} only for v1 Secret and ConfigMap, not ${apiVersion === '' ? '(no apiVersion)' : apiVersion} ${kind === '' ? '(no kind)' : kind}; send application/json`);
  }
  if (!raw) throw bad('the envelope holds no object');
  return reader(raw);
}
