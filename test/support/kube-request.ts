// A bare HTTPS client for tests that talk to the test API server (or any API server) without
// weft's client: one JSON request, or a watch stream read line by line.
import { request } from 'node:https';

/** The answer to one request. */
export interface RawResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Where and how to reach the server. */
export interface RawTarget {
  readonly url: string;
  readonly caPem: string;
  readonly token?: string;
}

/** Sends one request with a JSON body; parses the JSON answer. */
export function kubeRequest(target: RawTarget, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(
      new URL(path, target.url),
      {
        method,
        ca: target.caPem,
        headers: {
          Accept: 'application/json',
          ...(target.token ? { Authorization: `Bearer ${target.token}` } : {}),
          ...(text === undefined ? {} : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = raw;
          try {
            parsed = JSON.parse(raw) as unknown;
          } catch {
            // plain text (healthz)
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** One watch event as it came off the wire. */
export interface RawEvent {
  readonly type: string;
  readonly object: { metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }; [k: string]: unknown };
}

/** An open watch: events arrive in `events`; `next()` waits for the next one. */
export interface RawWatch {
  readonly status: Promise<number>;
  readonly events: RawEvent[];
  next(timeoutMs?: number): Promise<RawEvent>;
  /** Resolves when the server ends the stream ('end') or the connection breaks ('error'). */
  readonly ended: Promise<'end' | 'error'>;
  close(): void;
}

/** Opens a watch (path must include ?watch=true and any parameters). */
export function kubeWatch(target: RawTarget, path: string): RawWatch {
  const events: RawEvent[] = [];
  let read = 0;
  let waiter: (() => void) | undefined;
  let resolveStatus: (s: number) => void = () => undefined;
  let resolveEnded: (how: 'end' | 'error') => void = () => undefined;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const ended = new Promise<'end' | 'error'>((r) => (resolveEnded = r));
  const req = request(new URL(path, target.url), {
    method: 'GET',
    ca: target.caPem,
    headers: target.token ? { Authorization: `Bearer ${target.token}` } : {},
  }, (res) => {
    resolveStatus(res.statusCode ?? 0);
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') events.push(JSON.parse(line) as RawEvent);
      }
      waiter?.();
    });
    res.on('end', () => {
      resolveEnded('end');
      waiter?.();
    });
    res.on('error', () => resolveEnded('error'));
    res.on('aborted', () => resolveEnded('error'));
  });
  req.on('error', () => {
    resolveStatus(0);
    resolveEnded('error');
    waiter?.();
  });
  req.end();
  return {
    status,
    events,
    ended,
    async next(timeoutMs = 5000): Promise<RawEvent> {
      // Woken by each chunk, the stream's end or an error; the one timer is the bound.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        waiter?.();
      }, timeoutMs);
      try {
        while (read >= events.length) {
          if (timedOut) throw new Error(`no watch event within ${timeoutMs} ms`);
          await new Promise<void>((r) => (waiter = r));
        }
      } finally {
        clearTimeout(timer);
        waiter = undefined;
      }
      const e = events[read];
      read += 1;
      if (!e) throw new Error('no event');
      return e;
    },
    close(): void {
      req.destroy();
    },
  };
}
