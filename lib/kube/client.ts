// The one HTTPS client weft processes talk to the API server with: JSON requests and watch
// streams over a keep-alive agent, API errors turned into coded errors carrying the Status.
import { Agent, request, type AgentOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { WeftError } from '../errors.js';
import { realTimers, type Timers } from '../timers.js';
import type { KubeConnection } from './config.js';

/** The Status object the API server answers errors with. */
export interface KubeStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: { readonly retryAfterSeconds?: number };
}

/** The API server answered with an error status; `apiStatus` and `reason` come from its Status. */
export class KubeApiError extends WeftError {
  /** HTTP status the API server answered with (404, 409, 410, ...). */
  readonly apiStatus: number;
  /** The Status reason (NotFound, AlreadyExists, Expired, ...). */
  readonly reason: string;
  /** How long the server asked us to wait (its Retry-After, else the Status's retryAfterSeconds). */
  readonly retryAfterMs: number | undefined;

  constructor(apiStatus: number, status: KubeStatus | undefined, what: string, retryAfterMs?: number) {
    super('WEFT_ERR_KUBE_API', `${what}: ${apiStatus} ${status?.reason ?? ''} ${status?.message ?? ''}`.trim());
    this.name = 'KubeApiError';
    this.apiStatus = apiStatus;
    this.reason = status?.reason ?? '';
    const fromStatus = status?.details?.retryAfterSeconds;
    this.retryAfterMs = retryAfterMs ?? (typeof fromStatus === 'number' && fromStatus >= 0 ? fromStatus * 1000 : undefined);
  }
}

/**
 * A Retry-After header's wait in ms (pure): delay-seconds or an HTTP-date (RFC 9110 10.2.3);
 * undefined when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfterMs(header: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const first: string | undefined = typeof header === 'string' ? header : header?.[0];
  const value = first?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP-date names its day and month; Date.parse alone would take "-1" for a year.
  if (!/^[A-Za-z]{3}, /.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Bounds of one watch request, measured on `timers` (the caller's clock; fake in tests). */
export interface WatchRequestOptions {
  readonly signal: AbortSignal;
  /** No byte for this long on an open stream: the peer is taken for dead. */
  readonly idleTimeoutMs: number;
  /** No response headers within this long: the request is abandoned (0 or absent: no bound). */
  readonly headersTimeoutMs?: number;
  readonly timers?: Timers;
  /** Called once the server answered 200 (the stream is open). */
  readonly onOpen?: () => void;
}

/** Options of one non-watch request. */
export interface RequestOptions {
  readonly contentType?: string;
  /** Socket inactivity bound (REQUEST_TIMEOUT_MS by default). */
  readonly timeoutMs?: number;
  /** No response headers within this long on `timers`: the request is abandoned. */
  readonly headersTimeoutMs?: number;
  readonly timers?: Timers;
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
  async request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    const timers = opts.timers ?? realTimers;
    const res = await this.#send(method, path, body, opts.contentType ?? 'application/json', opts.timeoutMs ?? REQUEST_TIMEOUT_MS, undefined, opts.headersTimeoutMs ?? 0, timers);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new KubeApiError(status, parseStatus(text), `${method} ${path}`, parseRetryAfterMs(res.headers['retry-after'], timers.now()));
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new WeftError('WEFT_ERR_KUBE_API', `${method} ${path}: answer is not JSON: ${(err as Error).message}`);
    }
  }

  /**
   * GETs `path` and resolves with the body of a 2xx answer as text (pods/proxy to an admin port's
   * /metrics, which is not JSON); throws like request() otherwise.
   */
  async getText(path: string, opts: RequestOptions = {}): Promise<string> {
    const timers = opts.timers ?? realTimers;
    const res = await this.#send('GET', path, undefined, 'application/json', opts.timeoutMs ?? REQUEST_TIMEOUT_MS, undefined, opts.headersTimeoutMs ?? 0, timers);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new KubeApiError(status, parseStatus(text), `GET ${path}`, parseRetryAfterMs(res.headers['retry-after'], timers.now()));
    return text;
  }

  /**
   * Opens a watch and yields its events until the server ends the stream. Throws on a non-200
   * answer, a broken connection, no response headers within `headersTimeoutMs` (a hung server or
   * proxy), or no byte for `idleTimeoutMs` (a silently dead peer).
   */
  async *watch(path: string, opts: WatchRequestOptions): AsyncGenerator<RawWatchEvent> {
    const timers = opts.timers ?? realTimers;
    const res = await this.#send('GET', path, undefined, 'application/json', 0, opts.signal, opts.headersTimeoutMs ?? 0, timers);
    if (res.statusCode !== 200) {
      const text = await readBody(res);
      throw new KubeApiError(res.statusCode ?? 0, parseStatus(text), `watch ${path}`, parseRetryAfterMs(res.headers['retry-after'], timers.now()));
    }
    opts.onOpen?.();
    res.setEncoding('utf8');
    let idle: ReturnType<Timers['setTimeout']> | undefined;
    const arm = (): void => {
      timers.clearTimeout(idle);
      idle = timers.setTimeout(() => res.destroy(new WeftError('WEFT_ERR_KUBE_UNREACHABLE', `watch ${path}: no data for ${opts.idleTimeoutMs} ms`)), opts.idleTimeoutMs);
      idle.unref();
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
      timers.clearTimeout(idle);
      res.destroy();
    }
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  async #send(
    method: string, path: string, body: unknown, contentType: string, timeoutMs: number, signal: AbortSignal | undefined, headersTimeoutMs: number, timers: Timers,
  ): Promise<IncomingMessage> {
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
      // client-go has no such bound and hangs on a server that never answers; weft gives up.
      const headers = headersTimeoutMs > 0 ? timers.setTimeout(() => req.destroy(new Error(`no response headers within ${headersTimeoutMs} ms`)), headersTimeoutMs) : undefined;
      headers?.unref();
      req.on('response', (res) => {
        timers.clearTimeout(headers);
        resolve(res);
      });
      req.on('error', (err) => {
        timers.clearTimeout(headers);
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
