// The gateway's use of the mesh's one rescue (mesh/rescue.ts): a refusal becomes the status of its
// code, a `weft-error` header and a one-line text body (trailers-only for gRPC), as in the proxy.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { WeftError, type ErrorCode } from '../lib/errors.js';
import { rescueResponse } from '../mesh/rescue.js';

/** A request from either the HTTP/1.1 server or the HTTP/2 compatibility API. */
export type GatewayRequest = IncomingMessage | Http2ServerRequest;
/** A response of either server. */
export type GatewayResponse = ServerResponse | Http2ServerResponse;

/** Answers with the status of `code`, the weft-error header and `message` (unless already answered). */
export function refuse(res: GatewayResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  rescueResponse(res, new WeftError(code, message), headers);
}
