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

// Hop-by-hop headers never cross the gateway (RFC 9110 7.6.1), nor do HTTP/2 pseudo-headers.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Copies headers without hop-by-hop ones, those named by Connection, and pseudo-headers. */
export function endToEndHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[] | undefined> {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(':') || HOP_BY_HOP.has(k) || named.includes(k)) continue;
    out[k] = v;
  }
  return out;
}
