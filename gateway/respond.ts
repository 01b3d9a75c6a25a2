// The single place that turns a gateway refusal into a response: status from the error table,
// a `weft-error` header naming the code, and a one-line text body.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { ERROR_CODES, type ErrorCode } from '../lib/errors.js';

/** A request from either the HTTP/1.1 server or the HTTP/2 compatibility API. */
export type GatewayRequest = IncomingMessage | Http2ServerRequest;
/** A response of either server. */
export type GatewayResponse = ServerResponse | Http2ServerResponse;

/** Answers with the status of `code`, the weft-error header and `message` (unless already answered). */
export function refuse(res: GatewayResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${code}: ${message}\n`;
  res.writeHead(ERROR_CODES[code].status, {
    ...headers,
    'weft-error': code,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

// The hop-by-hop rule is the mesh's one list (mesh/headers.ts), shared with the proxy.
export { endToEndHeaders } from '../mesh/headers.js';
