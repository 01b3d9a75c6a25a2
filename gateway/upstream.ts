// The one place the gateway opens requests to backends: into the mesh over mutual TLS, through
// the sidecar's peer pool (connections pooled per endpoint identity, the server's identity
// checked), carrying the app port in weft-dst-port as every sidecar does.
import { request, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';
import { serviceKey, type Endpoint, type ServiceRef } from '../mesh/discovery/endpoint-source.js';
import { DST_PORT_HEADER, DST_SERVICE_HEADER, CLIENT_ID_HEADER } from '../mesh/headers.js';
import type { PeerPool } from '../mesh/peer-pool.js';

/** The request line and headers sent to a backend. */
export interface UpstreamHead {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
}

/**
 * The head's headers as one attempt to `endpoint` sends them: one copy per attempt (the head is
 * reused by retries and mirrors), filled in one pass with no spread-then-add and no delete, which
 * would each move the object to a new hidden class. `service` (ns/name:port) goes in
 * weft-dst-service so that the backend's inbound series name it as the gateway's do.
 */
export function meshHeaders(source: OutgoingHttpHeaders, endpoint: Endpoint, service?: ServiceRef): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const name in source) {
    const value = source[name];
    // Only the receiving sidecar may set the client identity; an outside client must not forge it.
    // A step that takes a header away (the API key) leaves it undefined.
    if (value !== undefined && name !== CLIENT_ID_HEADER && name !== DST_SERVICE_HEADER) headers[name] = value;
  }
  headers[DST_PORT_HEADER] = String(endpoint.port);
  if (service) headers[DST_SERVICE_HEADER] = serviceKey(service);
  return headers;
}

/** Opens one request to an endpoint's sidecar; the caller writes the body and reads the response. */
export function openMeshRequest(pool: PeerPool, endpoint: Endpoint, head: UpstreamHead, service?: ServiceRef): ClientRequest {
  return request({ agent: pool.http1(endpoint), host: endpoint.address, port: endpoint.port, method: head.method, path: head.path, headers: meshHeaders(head.headers, endpoint, service), setHost: false });
}
