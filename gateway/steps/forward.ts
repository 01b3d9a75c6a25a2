// The last step: send the request to the picked endpoint over mutual TLS (one retry of a bodyless
// request on a stale pooled connection, the rule's timeout, mirrors teed from the body, the body
// limit counted while streaming) and stream the answer back with the response filters applied.
import type { OutgoingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../../lib/errors.js';
import type { Timers } from '../../lib/timers.js';
import { cancelled, failed, succeeded, type CompletedPick } from '../../mesh/balance/picker.js';
import { classify } from '../../mesh/rescue.js';
import type { ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import type { PeerPool } from '../../mesh/peer-pool.js';
import { HANDED_OVER, refusal, type Refusal, type Step } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { anyContains, type Cidr } from '../policies/cidr.js';
import { firstValue } from '../policies/policy.js';
import { endToEndHeaders, mayResendAfterReset } from '../../mesh/headers.js';
import { modifyHeaders, type HeaderMap } from '../routes/filters.js';
import { mirrorTarget } from '../routes/route-table.js';
import { openMeshRequest } from '../upstream.js';
import type { Endpoint } from '../../mesh/discovery/endpoint-source.js';
import { serviceKey } from '../../mesh/discovery/endpoint-source.js';
import type { Traffic } from '../../mesh/traffic/traffic.js';
import { methodRetryable, type AttemptFailure } from '../../mesh/traffic/retry-policy.js';
import { forwardUpgrade } from './upgrade.js';
import { editableResponse, sendEditedResponse, type NotEdited } from '../transform/response-body.js';
import { setTraceHeaders } from '../../mesh/trace/propagate.js';
import { forwardHttp2, sendsHttp2 } from './forward-h2.js';
import { forwardUndici, requestTimeoutMs, undiciBody } from './forward-undici.js';
import { BODY_LIMIT_CODE, ByteLimit } from './byte-limit.js';

// Most requests mirror nothing: one shared empty list instead of a new one each.
const NO_MIRRORS: readonly ReturnType<typeof openMeshRequest>[] = Object.freeze([]);

/** What forwarding needs from the gateway; the handler passes its own pick and error answer. */
export interface ForwardDeps {
  readonly timers: Timers;
  /** The sidecar's mTLS connection pool. */
  readonly pool: PeerPool;
  /** Peers whose X-Forwarded-For and Forwarded are kept. */
  readonly trustedProxies: readonly Cidr[];
  /** Used when a rule sets no timeout (ms; 0 = none). */
  readonly defaultTimeoutMs: number;
  /** Picks an endpoint of a service now, without waiting (mirrors and retries pick their own). */
  readonly pickNow: (ref: ServiceRef, avoid?: Endpoint) => CompletedPick | undefined;
  /** The retry engine (retry budgets, counters); without it, a rule's retry is not run. */
  readonly traffic?: Traffic;
  /** Answers with a weft error (the handler's one error response). */
  readonly respondError: (x: Exchange, r: Refusal) => void;
  /** A bug: answers this one request and logs. */
  readonly failed: (x: Exchange, err: unknown) => void;
  /** A response body a TransformPolicy would edit went out unmodified (counted and logged). */
  readonly notEdited?: (x: Exchange, reason: NotEdited) => void;
  /** WEFT_GATEWAY_UPSTREAM_CLIENT=undici: the requests it can carry go through the pool's undici dispatchers (forward-undici.ts). */
  readonly undici?: boolean;
}

/** The forward step; it owns the exchange from here and always answers it, one way or another. */
export function forward(deps: ForwardDeps): Step<Exchange> {
  return (x) => {
    const entry = x.entry;
    const target = x.target;
    const rule = x.match?.rule;
    if (!entry || !target || !rule) throw new Error('forward ran before an endpoint was picked');
    const { req, res } = x;
    const endpoint = entry.endpoint;
    const maxBytes = x.bodyLimit?.value.maxBytes;
    if (res.writableEnded || res.destroyed) {
      entry.release(cancelled());
      return HANDED_OVER;
    }
    const peer = req.socket?.remoteAddress ?? '';
    addForwardedHeaders(x.headers, { peer, trustedPeer: anyContains(deps.trustedProxies, peer), proto: x.protocol === 'HTTPS' ? 'https' : 'http', host: x.host });
    x.headers.host = x.upstreamHost;
    // Traced: this gateway's span is the parent the mesh sees (docs/tracing.md).
    if (x.span) setTraceHeaders(x.headers, x.span);
    if (x.upgrade) return forwardUpgrade(deps, x, x.upgrade);
    if (sendsHttp2(x)) return forwardHttp2(deps, x);
    const undici = deps.undici === true ? undiciBody(x, rule.retry !== undefined && deps.traffic !== undefined) : undefined;
    if (undici !== undefined) return forwardUndici(deps, x, deps.pool, entry, undici);
    const head = { method: req.method ?? 'GET', path: x.upstreamPath + x.upstreamSearch, headers: x.headers as OutgoingHttpHeaders };
    let upstream = openMeshRequest(deps.pool, endpoint, head, target.ref);
    // A pooled connection the peer closed just as it was reused fails before any response:
    // a retry-safe request without a body (the mesh's one rule) is sent again, once, on a fresh connection.
    const bodyless = mayResendAfterReset(head.method, req.headers);
    let retried = false;
    // The rule's retry policy, run against the service's budget (mesh/traffic).
    const service = serviceKey(target.ref);
    const run = rule.retry && deps.traffic ? deps.traffic.run(service, rule.retry) : undefined;
    let current = entry;
    let backoff: ReturnType<Timers['setTimeout']> | undefined;
    // A body a TransformPolicy edited was read already: it is sent (and kept for a retry) whole.
    const edited = x.requestBody;
    const hasBody = edited !== undefined || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const kept: Buffer[] = edited ? [edited] : [];
    let keptBytes = 0;
    let overflow = run !== undefined && hasBody && Number(req.headers['content-length'] ?? '0') > run.policy.bufferBytes;
    if (run && hasBody && !overflow && !edited) {
      req.on('data', (chunk: Buffer) => {
        if (overflow) return;
        keptBytes += chunk.length;
        if (keptBytes > run.policy.bufferBytes) overflow = true;
        else kept.push(chunk);
      });
    }
    // After a failed attempt: true when a retry to another endpoint is on its way.
    const retryLater = (failure: AttemptFailure, latencyMs: number, status: number, code: ErrorCode = 'WEFT_ERR_CONNECT'): boolean => {
      if (!run || gaveUp || res.headersSent) return false;
      if (hasBody && (overflow || !req.readableEnded)) return false;
      if (failure.kind !== 'connect' && !methodRetryable(head.method, run.policy)) return false;
      const verdict = run.next(failure);
      if (!verdict.retry) {
        if (verdict.why === 'budget') deps.traffic?.exhausted(service);
        return false;
      }
      const next = deps.pickNow(target.ref, current.endpoint);
      if (!next) return false;
      deps.traffic?.retried(service, verdict.reason);
      current.release(status > 0 ? succeeded(latencyMs, status) : failed(code, latencyMs));
      current = next;
      backoff = timers.setTimeout(() => {
        if (gaveUp) return;
        x.entry = next;
        pickedMs = timers.now();
        upstream = openMeshRequest(deps.pool, next.endpoint, head, target.ref);
        wire(upstream);
        upstream.end(hasBody ? Buffer.concat(kept) : undefined);
      }, verdict.delayMs);
      return true;
    };
    const mirrorReqs = x.mirrors.length === 0 ? NO_MIRRORS : x.mirrors.flatMap((m) => {
      const ref = mirrorTarget(m.backend);
      const mp = ref ? deps.pickNow(ref) : undefined;
      if (!mp) return [];
      const mreq = openMeshRequest(deps.pool, mp.endpoint, head, ref);
      mreq.on('response', (mres) => mres.resume());
      mreq.on('error', () => undefined); // a mirror's failure never touches the real request
      mreq.on('close', () => mp.release(mreq.destroyed && !mreq.writableFinished ? cancelled() : succeeded()));
      return [mreq];
    });

    // A rule that sets timeouts decides alone: `request: 0s` means none, not the default.
    const timeoutMs = requestTimeoutMs(rule, deps.defaultTimeoutMs);
    const timers = deps.timers;
    let timer: ReturnType<Timers['setTimeout']> | undefined;
    // Set once the client is gone or the timeout fired: nothing is retried after that.
    let gaveUp = false;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = timers.setTimeout(() => {
        gaveUp = true;
        upstream.destroy();
        done('WEFT_ERR_TIMEOUT');
        deps.respondError(x, refusal('WEFT_ERR_TIMEOUT', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    let pickedMs = timers.now();
    // The pick keeps the first outcome it is released with and ignores the rest.
    const done = (code?: ErrorCode, status = 0): void => {
      timers.clearTimeout(timer);
      timers.clearTimeout(backoff);
      const latencyMs = timers.now() - pickedMs;
      current.release(code ? failed(code, latencyMs) : gaveUp ? cancelled(latencyMs) : succeeded(latencyMs, status));
    };
    res.once('close', () => {
      gaveUp = true;
      done();
      if (!upstream.writableFinished || !res.writableFinished) upstream.destroy();
    });

    const wire = (u: typeof upstream): void => {
      u.on('response', (ures) => {
        const status = ures.statusCode ?? 502;
        if (run && status >= 400 && retryLater({ kind: 'status', status }, timers.now() - pickedMs, status)) {
          ures.resume();
          return;
        }
        // The response cache may answer a revalidation's 304 itself, or store what streams past.
        let tapped = false;
        try {
          tapped = x.responseTap?.(ures) ?? false;
        } catch (e) {
          ures.destroy();
          return deps.failed(x, e);
        }
        if (tapped) {
          ures.on('end', () => done(undefined, status));
          return;
        }
        let rh: HeaderMap = endToEndHeaders(ures.headers);
        for (const m of x.responseMods) rh = modifyHeaders(rh, m);
        Object.assign(rh, x.corsHeaders, x.limitHeaders);
        if (res.headersSent) return ures.destroy();
        const responseEdits = x.transform?.value.responseBody;
        if (responseEdits && editableResponse(head.method, status, ures.headers)) {
          ures.on('error', () => res.destroy());
          ures.on('end', () => done(undefined, status));
          return sendEditedResponse(ures, res, status, rh, responseEdits, (why) => deps.notEdited?.(x, why), (e) => deps.failed(x, e));
        }
        try {
          res.writeHead(ures.statusCode ?? 502, rh as OutgoingHttpHeaders);
        } catch (e) {
          // A header the client side cannot carry (HTTP/2 forbids some): one failed request.
          ures.destroy();
          return deps.failed(x, e);
        }
        ures.pipe(res as NodeJS.WritableStream);
        ures.on('error', () => res.destroy());
        ures.on('end', () => done(undefined, status));
      });
      u.on('error', (e: NodeJS.ErrnoException) => {
        if (bodyless && !retried && !gaveUp && u.reusedSocket && !res.headersSent) {
          retried = true;
          upstream = openMeshRequest(deps.pool, current.endpoint, head, target.ref);
          wire(upstream);
          upstream.end();
          return;
        }
        if (e.code === BODY_LIMIT_CODE) {
          done();
          if (res.headersSent) return res.destroy();
          return deps.respondError(x, refusal('WEFT_ERR_BODY_TOO_LARGE', `body is over ${maxBytes} bytes`, x.corsHeaders, x.bodyLimit?.name ?? 'BodyLimitPolicy'));
        }
        // The mesh's one classifier: TLS, unreachable, timeout and reset mean what they mean in the proxy.
        const at = current.endpoint;
        const error = classify(e, u.reusedSocket ? 'request' : 'connect', { what: `${target.label} at ${at.address}:${at.port} (${at.identity})`, unreachable: 'WEFT_ERR_CONNECT' });
        const connect = error.code === 'WEFT_ERR_CONNECT' || error.code === 'WEFT_ERR_PEER_TLS' || error.code === 'WEFT_ERR_PEER_IDENTITY';
        if (run && retryLater(connect ? { kind: 'connect' } : { kind: 'reset' }, timers.now() - pickedMs, 0, error.code)) return;
        done(error.code);
        if (res.headersSent) return res.destroy();
        deps.respondError(x, refusal(error.code, error.message));
      });
    };
    wire(upstream);

    if (edited) {
      for (const m of mirrorReqs) m.end(edited);
      upstream.end(edited);
      return HANDED_OVER;
    }
    // The body streams through: counted (not buffered) when a limit applies, teed to mirrors.
    let body: NodeJS.ReadableStream = req as unknown as NodeJS.ReadableStream;
    if (maxBytes !== undefined) {
      const counter = new ByteLimit(maxBytes);
      counter.on('error', (e) => upstream.destroy(e));
      body = (req as unknown as NodeJS.ReadableStream).pipe(counter);
    }
    if (mirrorReqs.length > 0) {
      body.on('data', (chunk: Buffer) => {
        for (const m of mirrorReqs) m.write(chunk);
      });
      body.on('end', () => {
        for (const m of mirrorReqs) m.end();
      });
    }
    body.pipe(upstream);
    return HANDED_OVER;
  };
}

/**
 * Sets X-Forwarded-For / -Proto / -Host and Forwarded (RFC 7239) on the upstream headers.
 * Incoming values are kept only from a trusted proxy; anyone else could forge them.
 */
export function addForwardedHeaders(headers: HeaderMap, f: { peer: string; trustedPeer: boolean; proto: string; host: string }): void {
  const peer = f.peer.replace(/^::ffff:/i, '');
  const prevXff = f.trustedPeer ? firstValue(headers['x-forwarded-for']) : undefined;
  const prevFwd = f.trustedPeer ? firstValue(headers.forwarded) : undefined;
  headers['x-forwarded-for'] = prevXff ? `${prevXff}, ${peer}` : peer;
  headers['x-forwarded-proto'] = f.proto;
  headers['x-forwarded-host'] = f.host;
  const forNode = peer.includes(':') ? `"[${peer}]"` : peer;
  const element = `for=${forNode};proto=${f.proto};host=${JSON.stringify(f.host)}`;
  headers.forwarded = prevFwd ? `${prevFwd}, ${element}` : element;
}
