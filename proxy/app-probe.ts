// Replays the app's original kubelet probes for `/app-probe/<container>/<kind>` on the admin port:
// WEFT_APP_PROBES parsing (pure) and the HTTP, TCP and gRPC checks against the app's host.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as http2Connect, constants as h2, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, isIPv6 } from 'node:net';
import { WeftError, type ErrorCode } from '../lib/errors.js';

/** One original probe, as the injector recorded it (docs/sidecar-config.md "Probes"). */
export type AppProbe =
  | {
      readonly type: 'http';
      readonly port: number;
      readonly path: string;
      readonly scheme: 'HTTP' | 'HTTPS';
      readonly headers: readonly { readonly name: string; readonly value: string }[];
      readonly timeoutMs: number;
    }
  | { readonly type: 'tcp'; readonly port: number; readonly timeoutMs: number }
  | { readonly type: 'grpc'; readonly port: number; readonly service: string; readonly timeoutMs: number };

/** Kubelet's default probe timeout, used when the probe did not set timeoutSeconds. */
export const DEFAULT_PROBE_TIMEOUT_MS = 1000;

const KEY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/(liveness|readiness|startup)$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/**
 * Parses WEFT_APP_PROBES. Unset or empty means no probes; anything wrong throws one
 * WEFT_ERR_CONFIG listing every problem with the key it belongs to.
 */
export function parseAppProbes(raw: string | undefined): ReadonlyMap<string, AppProbe> {
  const out = new Map<string, AppProbe>();
  if (raw === undefined || raw.trim() === '') return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new WeftError('WEFT_ERR_CONFIG', `invalid configuration:\n  - WEFT_APP_PROBES is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new WeftError('WEFT_ERR_CONFIG', 'invalid configuration:\n  - WEFT_APP_PROBES must be a JSON object keyed <container>/<kind>');
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    const at = `WEFT_APP_PROBES[${JSON.stringify(key)}]`;
    if (!KEY.test(key)) {
      problems.push(`${at}: the key must be <container>/<liveness|readiness|startup>`);
      continue;
    }
    if (!isObject(value)) {
      problems.push(`${at}: must be an object with httpGet, tcpSocket or grpc`);
      continue;
    }
    let timeoutMs = DEFAULT_PROBE_TIMEOUT_MS;
    if (value['timeoutSeconds'] !== undefined) {
      const t = value['timeoutSeconds'];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 1) problems.push(`${at}.timeoutSeconds must be a positive integer`);
      else timeoutMs = t * 1000;
    }
    const handlers = ['httpGet', 'tcpSocket', 'grpc'].filter((h) => value[h] !== undefined);
    if (handlers.length !== 1) {
      problems.push(`${at}: must have exactly one of httpGet, tcpSocket, grpc (has ${handlers.length === 0 ? 'none' : handlers.join(', ')})`);
      continue;
    }
    const http = value['httpGet'];
    const tcp = value['tcpSocket'];
    const grpc = value['grpc'];
    if (http !== undefined) {
      if (!isObject(http) || !validPort(http['port'])) {
        problems.push(`${at}.httpGet.port must be a port number 1-65535`);
        continue;
      }
      const path = http['path'] ?? '/';
      const scheme = http['scheme'] ?? 'HTTP';
      if (typeof path !== 'string' || !path.startsWith('/')) problems.push(`${at}.httpGet.path must be a string starting with /`);
      if (scheme !== 'HTTP' && scheme !== 'HTTPS') problems.push(`${at}.httpGet.scheme must be HTTP or HTTPS`);
      const rawHeaders = http['httpHeaders'] ?? [];
      const headers: { name: string; value: string }[] = [];
      if (!Array.isArray(rawHeaders)) problems.push(`${at}.httpGet.httpHeaders must be a list`);
      else {
        for (const h of rawHeaders) {
          if (isObject(h) && typeof h['name'] === 'string' && h['name'] !== '' && typeof h['value'] === 'string') {
            headers.push({ name: h['name'], value: h['value'] });
          } else problems.push(`${at}.httpGet.httpHeaders entries must be {name, value} strings`);
        }
      }
      if (typeof path === 'string' && (scheme === 'HTTP' || scheme === 'HTTPS')) {
        out.set(key, { type: 'http', port: http['port'], path, scheme, headers, timeoutMs });
      }
    } else if (tcp !== undefined) {
      if (!isObject(tcp) || !validPort(tcp['port'])) problems.push(`${at}.tcpSocket.port must be a port number 1-65535`);
      else out.set(key, { type: 'tcp', port: tcp['port'], timeoutMs });
    } else if (grpc !== undefined) {
      if (!isObject(grpc) || !validPort(grpc['port'])) problems.push(`${at}.grpc.port must be a port number 1-65535`);
      else if (grpc['service'] !== undefined && typeof grpc['service'] !== 'string') problems.push(`${at}.grpc.service must be a string`);
      else out.set(key, { type: 'grpc', port: grpc['port'], service: typeof grpc['service'] === 'string' ? grpc['service'] : '', timeoutMs });
    }
  }
  if (problems.length > 0) throw new WeftError('WEFT_ERR_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return out;
}

/** The outcome of one replayed probe. */
export interface AppProbeAnswer {
  readonly status: 200 | 404 | 503;
  /** Set when status is not 200. */
  readonly code?: ErrorCode;
  /** One line saying what was checked and what happened. */
  readonly body: string;
}

/** What the handler needs. */
export interface AppProbeHandlerOptions {
  readonly probes: ReadonlyMap<string, AppProbe>;
  /** WEFT_APP_HOST: where the app listens (127.0.0.1 in a pod). */
  readonly appHost: string;
}

/** The `/app-probe/` handler: `check(path)` is the logic, `handle(req, res)` the node:http glue. */
export interface AppProbeHandler {
  /** `path` is `/app-probe/<container>/<kind>` (or `<container>/<kind>`). */
  check(path: string): Promise<AppProbeAnswer>;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/** Builds the handler the admin server mounts under `/app-probe/`. */
export function createAppProbeHandler(opts: AppProbeHandlerOptions): AppProbeHandler {
  const check = async (path: string): Promise<AppProbeAnswer> => {
    const key = path.replace(/^\/?app-probe\//, '').replace(/^\//, '').split('?')[0] ?? '';
    const probe = opts.probes.get(key);
    if (!probe) {
      return { status: 404, code: 'WEFT_ERR_APP_PROBE_UNKNOWN', body: `no original probe is recorded for ${JSON.stringify(key)}` };
    }
    // Answer a little before the kubelet's own timeout, so it hears why rather than timing out.
    const timeoutMs = Math.max(probe.timeoutMs - 100, 100);
    const failure = await runProbe(probe, opts.appHost, timeoutMs);
    if (failure === undefined) return { status: 200, body: `${key}: ${describe(probe)} passed` };
    return { status: 503, code: 'WEFT_ERR_APP_PROBE_FAILED', body: `${key}: ${describe(probe)} failed: ${failure}` };
  };
  return {
    check,
    handle(req, res) {
      check(req.url ?? '').then(
        (a) => {
          const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
          if (a.code) headers['weft-error'] = a.code;
          res.writeHead(a.status, headers).end(a.body + '\n');
        },
        (err: unknown) => res.writeHead(503, { 'weft-error': 'WEFT_ERR_APP_PROBE_FAILED' }).end(`probe failed: ${(err as Error).message}\n`),
      ).catch(() => res.destroy()); // writing the answer failed (the kubelet left): nothing else to do
    },
  };
}

function describe(p: AppProbe): string {
  if (p.type === 'http') return `${p.scheme} GET :${p.port}${p.path}`;
  if (p.type === 'tcp') return `TCP connect :${p.port}`;
  return `gRPC health check :${p.port}${p.service ? ` service ${JSON.stringify(p.service)}` : ''}`;
}

/** Runs the probe; resolves undefined on success, or the reason it failed. */
export function runProbe(p: AppProbe, host: string, timeoutMs: number): Promise<string | undefined> {
  if (p.type === 'http') return httpProbe(p, host, timeoutMs);
  if (p.type === 'tcp') return tcpProbe(p.port, host, timeoutMs);
  return grpcProbe(p.port, p.service, host, timeoutMs);
}

function httpProbe(p: Extract<AppProbe, { type: 'http' }>, host: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/weft', accept: '*/*', connection: 'close' };
    for (const h of p.headers) headers[h.name.toLowerCase()] = h.value;
    const options = { host, port: p.port, path: p.path, method: 'GET', headers, timeout: timeoutMs };
    const onResponse = (res: IncomingMessage): void => {
      res.resume();
      const code = res.statusCode ?? 0;
      // The kubelet's rule: any status from 200 to 399 is a success.
      resolve(code >= 200 && code < 400 ? undefined : `HTTP ${code}`);
    };
    // Like the kubelet, an HTTPS probe does not verify the app's certificate.
    const req = p.scheme === 'HTTPS' ? httpsRequest({ ...options, rejectUnauthorized: false }, onResponse) : httpRequest(options, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(errText(err)));
    req.end();
  });
}

function tcpProbe(port: number, host: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('timeout', () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)));
    socket.once('error', (err) => resolve(errText(err)));
  });
}

/** grpc.health.v1.HealthCheckResponse.ServingStatus names, by number. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

function grpcProbe(port: number, service: string, host: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const authority = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
    const session = http2Connect(`http://${authority}`);
    const finish = (result: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(`no answer within ${timeoutMs} ms`), timeoutMs);
    session.on('error', (err: Error) => finish(errText(err)));
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      'user-agent': 'kube-probe/weft',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const readStatus = (h: IncomingHttpHeaders): void => {
      const status = h['grpc-status'];
      const message = h['grpc-message'];
      if (typeof status === 'string') grpcStatus = status;
      if (typeof message === 'string') grpcMessage = decodeURIComponent(message);
    };
    stream.on('response', (h) => {
      const status = h[h2.HTTP2_HEADER_STATUS];
      if (Number(status) !== 200) finish(`HTTP/2 status ${String(status)}`);
      readStatus(h); // a trailers-only answer carries grpc-status in the headers
    });
    stream.on('trailers', (h: IncomingHttpHeaders) => readStatus(h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err: Error) => finish(errText(err)));
    stream.on('close', () => {
      if (grpcStatus === undefined) return finish('the stream ended without a grpc-status');
      if (grpcStatus !== '0') return finish(`grpc-status ${grpcStatus}${grpcMessage ? ` (${grpcMessage})` : ''}`);
      const serving = decodeHealthResponse(Buffer.concat(chunks));
      if (typeof serving === 'string') return finish(serving);
      finish(serving === 1 ? undefined : `status ${SERVING_STATUS[serving] ?? serving}`);
    });
    stream.end(encodeHealthRequest(service));
  });
}

/** A length-prefixed gRPC message holding HealthCheckRequest { string service = 1; }. */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/**
 * Reads HealthCheckResponse { ServingStatus status = 1; } from a length-prefixed gRPC message;
 * returns the status number (absent field: 0, UNKNOWN) or why the bytes are not one.
 */
export function decodeHealthResponse(data: Buffer): number | string {
  if (data.length < 5) return 'the answer holds no gRPC message';
  if (data.readUInt8(0) !== 0) return 'the answer is compressed, which the probe did not ask for';
  const len = data.readUInt32BE(1);
  if (data.length < 5 + len) return 'the gRPC message is truncated';
  const msg = data.subarray(5, 5 + len);
  let i = 0;
  let status = 0;
  const readVarint = (): number | undefined => {
    let result = 0;
    let shift = 0;
    while (i < msg.length && shift < 35) {
      const b = msg[i++] ?? 0;
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    return undefined;
  };
  while (i < msg.length) {
    const tag = readVarint();
    if (tag === undefined) return 'the HealthCheckResponse is not valid protobuf';
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const v = readVarint();
      if (v === undefined) return 'the HealthCheckResponse is not valid protobuf';
      if (field === 1) status = v;
    } else if (wire === 2) {
      const l = readVarint();
      if (l === undefined || i + l > msg.length) return 'the HealthCheckResponse is not valid protobuf';
      i += l;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else return `the HealthCheckResponse has an unknown wire type ${wire}`;
  }
  return status;
}

function errText(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
