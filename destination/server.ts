// `weft destination`'s API: HTTP/2 over TLS 1.3 with a client certificate required (a mesh leaf
// from weft ca). `GET /v1/watch/<kind>?...` streams newline-delimited JSON, one full value per
// line, for as long as the stream stays open; `GET /v1/resolve?address=&port=` answers what an
// address is; `GET /v1/ready` is 200 once the index has listed everything. Errors are JSON with
// a WEFT_ERR_* code in the body and the `weft-error` header.
import http2, { type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WeftError, isWeftError } from '../lib/errors.js';
import { parseIdentity } from '../lib/identity.js';
import type { Logger } from '../lib/logger.js';
import type { HostPort } from '../lib/config.js';
import type { TlsMaterial } from '../mesh/identity/identity-provider.js';
import { peerIdentity } from '../mesh/mesh-tls.js';
import type { AnyWatchKind, Caller } from './watch-kinds.js';
import type { AddressInfo } from '../mesh/discovery/endpoint-source.js';

/** What the server answers from. */
export interface DestinationApi {
  readonly kinds: ReadonlyMap<string, AnyWatchKind>;
  readonly resolve: (address: string, port: number) => AddressInfo;
  readonly ready: () => boolean;
}

/** TLS options of the server for one material: only weft leaves get in. */
function tlsOptions(material: TlsMaterial): http2.SecureServerOptions {
  return {
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.trustBundlePem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2'],
  };
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)$/;

/** The running destination server. */
export class DestinationServer {
  readonly #server: Http2SecureServer;
  readonly #api: DestinationApi;
  readonly #log: Logger;
  readonly #open: Gauge<'kind'>;
  readonly #requests: Counter<'path' | 'status'>;
  readonly #streams = new Set<ServerHttp2Stream>();

  constructor(material: TlsMaterial, api: DestinationApi, deps: { readonly log: Logger; readonly registry: Registry }) {
    this.#api = api;
    this.#log = deps.log;
    this.#open = new Gauge({ name: 'weft_destination_subscriptions', help: 'Open watch streams, by kind', labelNames: ['kind'] as const, registers: [deps.registry] });
    this.#requests = new Counter({
      name: 'weft_destination_requests_total',
      help: 'Requests to the destination API, by path (watch/<kind>, resolve, ready) and status',
      labelNames: ['path', 'status'] as const,
      registers: [deps.registry],
    });
    this.#server = http2.createSecureServer(tlsOptions(material));
    this.#server.on('stream', (stream, headers) => this.#onStream(stream, headers));
    // A client that fails the handshake (no certificate, another CA) is logged, not crashed on.
    this.#server.on('tlsClientError', (err: Error) => this.#log.debug({ err: err.message }, 'client refused at the TLS handshake'));
    this.#server.on('sessionError', (err: Error) => this.#log.debug({ err: err.message }, 'destination session error'));
  }

  /** Swaps the serving certificate (renewal); open sessions keep theirs. */
  setMaterial(material: TlsMaterial): void {
    this.#server.setSecureContext(tlsOptions(material));
  }

  /** Listens; resolves with the bound address. */
  async listen(addr: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(addr.port, addr.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const bound = this.#server.address();
    return bound && typeof bound === 'object' ? { host: bound.address, port: bound.port } : addr;
  }

  /** Ends every stream and closes the listener. */
  async close(): Promise<void> {
    for (const s of this.#streams) s.close(http2.constants.NGHTTP2_NO_ERROR);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', (err) => this.#log.debug({ err: err.message }, 'destination stream error'));
    const url = new URL(String(headers[':path'] ?? '/'), 'https://destination');
    const path = url.pathname;
    try {
      const identity = peerIdentity(stream.session?.socket as TLSSocket);
      const parsed = identity === undefined ? undefined : parseIdentity(identity);
      if (!identity || !parsed) throw new WeftError('WEFT_ERR_UNAUTHENTICATED', 'the client certificate carries no weft identity');
      const caller: Caller = { identity, namespace: parsed.namespace };
      if (headers[':method'] !== 'GET') throw new WeftError('WEFT_ERR_NOT_FOUND', `${String(headers[':method'])} ${path}: only GET is served`);
      if (path === '/v1/ready') return this.#json(stream, 'ready', this.#api.ready() ? 200 : 503, { ready: this.#api.ready() });
      if (path === '/v1/resolve') return this.#resolve(stream, url.searchParams);
      const m = /^\/v1\/watch\/([a-z0-9-]+)$/.exec(path);
      const kind = m ? this.#api.kinds.get(m[1] ?? '') : undefined;
      if (!kind) throw new WeftError('WEFT_ERR_NOT_FOUND', `no such path ${path} (kinds: ${[...this.#api.kinds.keys()].join(', ')})`);
      this.#watch(stream, kind, url.searchParams, caller);
    } catch (err) {
      const e = isWeftError(err) ? err : new WeftError('WEFT_ERR_INTERNAL', 'internal error', { cause: err });
      if (!isWeftError(err)) this.#log.error({ err: (err as Error).message, path }, 'destination request failed');
      this.#json(stream, path.startsWith('/v1/watch/') ? 'watch' : path, e.status, { error: e.code, message: e.message }, e.code);
    }
  }

  #resolve(stream: ServerHttp2Stream, query: URLSearchParams): void {
    const address = query.get('address') ?? '';
    const port = Number(query.get('port'));
    if (!IP.test(address) || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new WeftError('WEFT_ERR_BAD_REQUEST', 'resolve needs address (an IP) and port (1-65535)');
    }
    this.#json(stream, 'resolve', 200, this.#api.resolve(address, port));
  }

  #watch(stream: ServerHttp2Stream, kind: AnyWatchKind, query: URLSearchParams, caller: Caller): void {
    const key = kind.parse(query, caller);
    if (isWeftError(key)) throw key;
    this.#requests.inc({ path: `watch/${kind.name}`, status: '200' });
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    this.#streams.add(stream);
    this.#open.inc({ kind: kind.name });
    const stop = kind.subscribe(key, (value) => {
      if (!stream.closed && !stream.destroyed) stream.write(`${JSON.stringify(value)}\n`);
    });
    stream.once('close', () => {
      this.#streams.delete(stream);
      this.#open.dec({ kind: kind.name });
      stop();
    });
  }

  #json(stream: ServerHttp2Stream, path: string, status: number, body: unknown, code?: string): void {
    this.#requests.inc({ path, status: String(status) });
    if (stream.closed || stream.destroyed) return;
    stream.respond({ ':status': status, 'content-type': 'application/json', ...(code ? { 'weft-error': code } : {}) });
    stream.end(JSON.stringify(body));
  }
}
