// The response hook of a TransformPolicy: a JSON response body (application/json or +json, not
// compressed, not to HEAD, not 204/304) is held up to the policy's cap, edited and sent with its
// new Content-Length. A body over the cap, or one that is not valid JSON, goes to the client
// unmodified (the held bytes first, then the rest as it streams) and the reason is reported.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { GatewayResponse } from '../respond.js';
import type { HeaderMap } from '../routes/filters.js';
import type { BodyEdits } from './transform-config.js';
import { firstValue } from '../policies/policy.js';
import { applyJsonEdits, isJsonMediaType, isPlainEncoding } from './json-edit.js';

/** Why a response body the policy would edit went out unmodified. */
export type NotEdited = 'over-cap' | 'not-json';

/** Whether the response edits apply to this answer. */
export function editableResponse(method: string | undefined, status: number, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) return false;
  return isJsonMediaType(firstValue(headers['content-type'])) && isPlainEncoding(firstValue(headers['content-encoding']));
}

/**
 * Answers `res` with the edited body of `ures`. `headers` are the response headers already
 * filtered; `writeHead` failing (a header the client's protocol cannot carry) goes to `failed`.
 */
export function sendEditedResponse(
  ures: IncomingMessage,
  res: GatewayResponse,
  status: number,
  headers: HeaderMap,
  body: BodyEdits,
  notEdited: (reason: NotEdited) => void,
  failed: (err: unknown) => void,
): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const head = (h: HeaderMap): boolean => {
    try {
      res.writeHead(status, h as OutgoingHttpHeaders);
      return true;
    } catch (e) {
      ures.destroy();
      failed(e);
      return false;
    }
  };
  const onData = (chunk: Buffer): void => {
    bytes += chunk.length;
    chunks.push(chunk);
    if (bytes <= body.maxBytes) return;
    // Over the cap: send what is held, then stream the rest as it comes (memory stays bounded).
    ures.removeListener('data', onData);
    ures.removeListener('end', onEnd);
    ures.pause();
    notEdited('over-cap');
    if (!head(headers)) return;
    const out = res as NodeJS.WritableStream;
    for (const c of chunks) out.write(c);
    chunks.length = 0;
    ures.pipe(out);
  };
  const onEnd = (): void => {
    const raw = Buffer.concat(chunks, bytes);
    if (bytes === 0) {
      if (head(headers)) res.end();
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(raw.toString('utf8'));
    } catch {
      notEdited('not-json');
      if (head(headers)) res.end(raw);
      return;
    }
    const edited = Buffer.from(JSON.stringify(applyJsonEdits(doc, body.edits).value), 'utf8');
    headers['content-length'] = String(edited.length);
    delete headers['transfer-encoding'];
    // The validators named the backend's bytes, which the client no longer gets.
    delete headers.etag;
    delete headers['content-md5'];
    if (head(headers)) res.end(edited);
  };
  ures.on('data', onData);
  ures.once('end', onEnd);
}
