// Protocol detection on a captured outbound connection: HTTP/1.1, h2c (prior knowledge) or
// opaque TCP, from the first bytes the app sends, or opaque after a timeout when the app waits
// for the server to speak first (MySQL, SMTP), as Linkerd's proxy does.
import type { Socket } from 'node:net';

/** What a connection speaks. */
export type DetectedProtocol = 'http1' | 'h2' | 'opaque';

/** Request methods that start an HTTP/1.x request line (RFC 9110 and the common WebDAV ones). */
export const HTTP1_METHODS: readonly string[] = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH',
];

/** The HTTP/2 connection preface a prior-knowledge h2c client opens with. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * How many bytes detection looks at, at most. A request line longer than this that started like
 * HTTP is handed to the HTTP parser, which answers it (414/431) better than an opaque tunnel.
 */
export const DETECT_MAX_BYTES = 8192;

const REQUEST_LINE = /^([A-Z]+) [^\s]+ HTTP\/1\.[01]\r?$/;

/**
 * Classifies the first bytes of a connection (pure). HTTP/1 needs a whole request line
 * (`METHOD target HTTP/1.x`) with a known method, so a line protocol whose command happens to be
 * "GET key" stays opaque; `undefined` means more bytes are needed to decide.
 */
export function classifyPrefix(bytes: Buffer): DetectedProtocol | undefined {
  if (bytes.length === 0) return undefined;
  const n = Math.min(bytes.length, H2_PREFACE.length);
  if (bytes.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return bytes.length >= H2_PREFACE.length ? 'h2' : undefined;

  const head = bytes.subarray(0, DETECT_MAX_BYTES).toString('latin1');
  const space = head.indexOf(' ');
  const methodPart = space === -1 ? head : head.slice(0, space);
  // While the method is still arriving, it must be a prefix of a known one.
  if (space === -1) {
    if (head.length > 16 || !HTTP1_METHODS.some((m) => m.startsWith(methodPart))) return 'opaque';
    return bytes.length >= DETECT_MAX_BYTES ? 'opaque' : undefined;
  }
  if (!HTTP1_METHODS.includes(methodPart)) return 'opaque';
  const newline = head.indexOf('\n');
  if (newline === -1) {
    // A request line too long to finish within the limit: let the HTTP parser refuse it.
    return bytes.length >= DETECT_MAX_BYTES ? 'http1' : undefined;
  }
  return REQUEST_LINE.test(head.slice(0, newline)) ? 'http1' : 'opaque';
}

/** The outcome of detecting on a socket. */
export interface Detection {
  readonly protocol: DetectedProtocol;
  /** True when the client sent nothing decisive within the timeout (server-speaks-first). */
  readonly timedOut: boolean;
  /** The bytes read while detecting; the next handler must see them first (see replay). */
  readonly head: Buffer;
  /** True when the client closed its side before detection decided (opaque then). */
  readonly ended: boolean;
}

/**
 * Reads from `socket` until classifyPrefix decides, the client closes its side, or `timeoutMs`
 * passes (then: opaque). Leaves the socket paused with the bytes it read in `head`: an HTTP
 * handler gets them back with replay(), an opaque tunnel writes them first.
 *
 * The socket is made half-open (as http.Server's own sockets are) so that a client that sends
 * and then shuts down its side (`nc -q`, a request/response protocol) still gets the answer
 * through an opaque tunnel; an h2 connection gets Node's default back, as http2 servers expect.
 */
export function detectProtocol(socket: Socket, timeoutMs: number): Promise<Detection> {
  socket.allowHalfOpen = true;
  return new Promise((resolve) => {
    let head: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (protocol: DetectedProtocol, timedOut: boolean, ended: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (protocol === 'h2') socket.allowHalfOpen = false;
      resolve({ protocol, timedOut, head, ended });
    };
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const decided = classifyPrefix(head);
      if (decided !== undefined) finish(decided, false, false);
    };
    // A client that half-closes before deciding (e.g. `printf x | nc -N`) is opaque: HTTP would
    // have sent a whole request line first.
    const onEnd = (): void => finish('opaque', false, true);
    const timer = setTimeout(() => finish('opaque', true, false), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}

/** Puts the detected bytes back in front of the stream, for a handler that reads the socket itself. */
export function replay(socket: Socket, detection: Detection): void {
  if (detection.head.length > 0 && !detection.ended) socket.unshift(detection.head);
}
