// The one place the gateway opens connections to backends. PlainUpstream speaks plain HTTP/1.1
// to an endpoint (local echo backends, tests); the mesh forwarder (mTLS to the endpoint's
// sidecar) plugs in behind the same interface.
import { Agent, request, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';
import type { Endpoint, ServiceRef } from '../discovery/endpoint-source.js';

/** The request line and headers sent to a backend. */
export interface UpstreamHead {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
}

/** Opens one request to one endpoint; the caller writes the body and reads the response. */
export interface Upstream {
  open(service: ServiceRef, endpoint: Endpoint, head: UpstreamHead): ClientRequest;
  close(): void;
}

/** Plain HTTP/1.1 with pooled keep-alive connections per endpoint. */
export class PlainUpstream implements Upstream {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });

  open(_service: ServiceRef, endpoint: Endpoint, head: UpstreamHead): ClientRequest {
    return request({ host: endpoint.address, port: endpoint.port, method: head.method, path: head.path, headers: head.headers, agent: this.#agent });
  }

  close(): void {
    this.#agent.destroy();
  }
}
