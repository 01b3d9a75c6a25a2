// The test API server's wire helpers: JSON request bodies, JSON responses, and the patch types.
import type { ServerResponse } from 'node:http';
import fastJsonPatch from 'fast-json-patch';
import { decodeProtobufObject, PROTOBUF_MEDIA_TYPE } from './protobuf.js';
import { clone, StatusError, type KubeObject } from './resources.js';

/** A JSON request body; 400 with the real server's message when it does not parse. */
export function parseBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new StatusError(400, 'BadRequest', `the object provided is unrecognized (must be of type Object): couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

/** An object body in the request's media type: JSON, or Kubernetes protobuf (typed client-go clients, Helm's release record). */
export function parseObjectBody(body: Buffer, contentType: string | undefined): KubeObject {
  const type = (contentType ?? '').split(';')[0]?.trim() ?? '';
  if (type === PROTOBUF_MEDIA_TYPE) return decodeProtobufObject(body);
  if (type !== '' && type !== 'application/json' && type !== '*/*') {
    throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, ${PROTOBUF_MEDIA_TYPE}`);
  }
  return parseBody(body) as KubeObject;
}

/** Answers with JSON, as the real server does (no caching). */
export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

/** The object after a JSON patch or a (strategic) merge patch. */
export function applyPatch(existing: KubeObject, contentType: string, body: Buffer): KubeObject {
  const type = contentType.split(';')[0]?.trim() ?? '';
  const patch = parseBody(body);
  if (type === 'application/json-patch+json') {
    if (!Array.isArray(patch)) throw new StatusError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    try {
      return fastJsonPatch.applyPatch(clone(existing), patch as fastJsonPatch.Operation[], true, false).newDocument;
    } catch (err) {
      throw new StatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(err as Error).message}`);
    }
  }
  // Strategic merge patch is served as a JSON merge patch (no list merge keys): good enough for
  // the label, annotation and field changes weft makes.
  if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
    return mergePatch(clone(existing), patch) as KubeObject;
  }
  throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
