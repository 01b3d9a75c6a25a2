// The request-body step of a TransformPolicy: a JSON request body (application/json or +json, not
// compressed) is read whole up to the policy's cap, edited, and handed to forward as a buffer with
// its new Content-Length. Every other request keeps streaming: this step does not read it at all.
import { CONTINUE, refusal, wait, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { firstValue } from '../policies/policy.js';
import { applyJsonEdits, isJsonMediaType, isPlainEncoding } from './json-edit.js';

/** Whether a request's body is one the request edits apply to. */
export function editableRequest(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return isJsonMediaType(firstValue(headers['content-type'])) && isPlainEncoding(firstValue(headers['content-encoding']));
}

/** Reads, edits and keeps the body of a request a TransformPolicy edits; continues for all others. */
export function transformRequestBody(x: Exchange): StepResult {
  const body = x.transform?.value.requestBody;
  if (!body || x.upgrade || !editableRequest(x.req.headers)) return CONTINUE;
  // A BodyLimitPolicy still holds: the smaller cap wins, and its refusal names it.
  const limit = x.bodyLimit;
  const byLimit = limit !== undefined && limit.value.maxBytes < body.maxBytes;
  const cap = byLimit ? limit.value.maxBytes : body.maxBytes;
  const policy = byLimit ? limit.name : (x.transform?.name ?? 'TransformPolicy');
  const tooLarge = (): StepResult => refusal('WEFT_ERR_BODY_TOO_LARGE', `a JSON body to edit may be at most ${cap} bytes`, x.corsHeaders, policy);
  const declared = Number(firstValue(x.req.headers['content-length']) ?? NaN);
  if (declared > cap) return tooLarge();
  const req = x.req;
  return wait(
    new Promise<StepResult>((resolve) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const onData = (chunk: Buffer): void => {
        bytes += chunk.length;
        if (bytes <= cap) {
          chunks.push(chunk);
          return;
        }
        // Over the cap: stop keeping it, let the rest drain, and answer 413.
        req.removeListener('data', onData);
        req.removeListener('end', onEnd);
        chunks.length = 0;
        req.resume();
        resolve(tooLarge());
      };
      const onEnd = (): void => {
        if (bytes === 0) return resolve(CONTINUE); // no body: nothing to edit, nothing to send
        let doc: unknown;
        try {
          doc = JSON.parse(Buffer.concat(chunks, bytes).toString('utf8'));
        } catch (e) {
          return resolve(refusal('WEFT_ERR_BODY_NOT_JSON', `the body is not valid JSON: ${(e as Error).message}`, x.corsHeaders, policy));
        }
        const edited = Buffer.from(JSON.stringify(applyJsonEdits(doc, body.edits).value), 'utf8');
        x.requestBody = edited;
        x.headers['content-length'] = String(edited.length);
        delete x.headers['transfer-encoding'];
        resolve(CONTINUE);
      };
      req.on('data', onData);
      req.once('end', onEnd);
      // A client that leaves ends the wait; the chain sees the response closed and stops.
      x.res.once('close', () => resolve(CONTINUE));
    }),
  );
}
