// The one HTTPS client weft processes talk to the API server with: JSON requests and watch
// streams over a keep-alive agent, API errors turned into coded errors carrying the Status.
import { Agent, request, type AgentOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { WeftError } from '../errors.js';
import type { KubeConnection } from './config.js';

/** The Status object the API server answers errors with. */
export interface KubeStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
}

/** The API server answered with an error status; `apiStatus` and `reason` come from its Status. */
export class KubeApiError extends WeftError {
  /** HTTP status the API server answered with (404, 409, 410, ...). */
  readonly apiStatus: number;
  /** The Status reason (NotFound, AlreadyExists, Expired, ...). */
  readonly reason: string;

  constructor(apiStatus: number, status: KubeStatus | undefined, what: string) {
    super('WEFT_ERR_KUBE_API', `${what}: ${apiStatus} ${status?.reason ?? ''} ${status?.message ?? ''}`.trim());
    this.name = 'KubeApiError';
    this.apiStatus = apiStatus;
    this.reason = status?.reason ?? '';
  }
}

/** True for an API error with the given HTTP status. */
export function isKubeStatus(err: unknown, apiStatus: number): err is KubeApiError {
  return err instanceof KubeApiError && err.apiStatus === apiStatus;
}

/** One event as the watch stream carries it. */
export interface RawWatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** Path parts of a resource collection or object. */
export interface ResourcePath {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** /api/v1/namespaces/ns/pods/name or /apis/group/version/... */
export function resourcePath(p: ResourcePath): string {
  const base = p.group === '' ? `/api/${p.version}` : `/apis/${p.group}/${p.version}`;
  const ns = p.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(p.namespace)}`;
  const name = p.name === undefined ? '' : `/${encodeURIComponent(p.name)}`;
  const sub = p.subresource === undefined ? '' : `/${p.subresource}`;
  return `${base}${ns}/${p.resource}${name}${sub}`;
}

/** Request timeout for everything but watches. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** A client for one API server. */
export class KubeClient {
  readonly #conn: KubeConnection;
  readonly #agent: Agent | HttpAgent;
  readonly #tls: AgentOptions;

  constructor(conn: KubeConnection) {
    this.#conn = conn;
    this.#tls = {
      ...(conn.caPem ? { ca: conn.caPem } : {}),
      ...(conn.clientCertPem ? { cert: conn.clientCertPem } : {}),
      ...(conn.clientKeyPem ? { key: conn.clientKeyPem } : {}),
      ...(conn.serverName ? { servername: conn.serverName } : {}),
      rejectUnauthorized: !conn.skipTlsVerify,
    };
    // keepAlive also turns on TCP keep-alive probes, so a silently dead watch is noticed.
    this.#agent = conn.server.startsWith('https:')
      ? new Agent({ keepAlive: true, maxSockets: Infinity, ...this.#tls })
      : new HttpAgent({ keepAlive: true });
  }

  /** The connection this client uses. */
  get connection(): KubeConnection {
    return this.#conn;
  }

  /** Sends a request; resolves with the parsed JSON body of a 2xx answer, throws otherwise. */
  async request<T>(method: string, path: string, body?: unknown, opts: { contentType?: string; timeoutMs?: number } = {}): Promise<T> {
    const res = await this.#send(method, path, body, opts.contentType ?? 'application/json', opts.timeoutMs ?? REQUEST_TIMEOUT_MS);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new KubeApiError(status, parseStatus(text), `${method} ${path}`);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new WeftError('WEFT_ERR_KUBE_API', `${method} ${path}: answer is not JSON: ${(err as Error).message}`);
    }
  }

  /**
   * Opens a watch and yields its events until the server ends the stream. Throws on a non-200
   * answer, a broken connection, or no byte for `idleTimeoutMs` (a silently dead peer).
   */
  async *watch(path: string, opts: { signal: AbortSignal; idleTimeoutMs: number }): AsyncGenerator<RawWatchEvent> {
    const res = await this.#send('GET', path, undefined, 'application/json', 0, opts.signal);
    if (res.statusCode !== 200) {
      const text = await readBody(res);
      throw new KubeApiError(res.statusCode ?? 0, parseStatus(text), `watch ${path}`);
    }
    res.setEncoding('utf8');
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => res.destroy(new WeftError('WEFT_ERR_KUBE_UNREACHABLE', `watch ${path}: no data for ${opts.idleTimeoutMs} ms`)), opts.idleTimeoutMs);
    };
    arm();
    let buf = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        arm();
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === '') continue;
          let event: RawWatchEvent;
          try {
            event = JSON.parse(line) as RawWatchEvent;
          } catch {
            throw new WeftError('WEFT_ERR_KUBE_API', `watch ${path}: a line is not JSON`);
          }
          yield event;
        }
      }
      // A stream the server closes in the middle of a line was cut, not ended.
      if (!res.complete) throw new WeftError('WEFT_ERR_KUBE_UNREACHABLE', `watch ${path}: the connection was cut`);
    } catch (err) {
      if (err instanceof WeftError) throw err;
      if (opts.signal.aborted) return;
      throw new WeftError('WEFT_ERR_KUBE_UNREACHABLE', `watch ${path}: ${(err as Error).message}`, { cause: err });
    } finally {
      if (idle) clearTimeout(idle);
      res.destroy();
    }
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  async #send(method: string, path: string, body: unknown, contentType: string, timeoutMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    const auth = await this.#conn.authorization();
    const text = body === undefined ? undefined : JSON.stringify(body);
    const url = new URL(path, this.#conn.server);
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, {
        method,
        agent: this.#agent,
        ...this.#tls,
        ...(signal ? { signal } : {}),
        headers: {
          Accept: 'application/json',
          'User-Agent': 'weft',
          ...(auth ? { Authorization: auth } : {}),
          ...(text === undefined ? {} : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) }),
        },
      });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      }
      req.on('response', resolve);
      req.on('error', (err) => {
        reject(new WeftError('WEFT_ERR_KUBE_UNREACHABLE', `${method} ${url.pathname}: ${err.message}`, { cause: err }));
      });
      req.end(text);
    });
  }
}

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  } catch (err) {
    throw new WeftError('WEFT_ERR_KUBE_UNREACHABLE', `reading the answer: ${(err as Error).message}`, { cause: err });
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return { message: text.slice(0, 200) };
  }
}
