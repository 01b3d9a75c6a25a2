// Reads the proxies' admin ports for the observing commands: one GET, or a tap's NDJSON stream.
import http from 'node:http';
import { WeftError } from '../../lib/errors.js';
import type { TapEvent } from '../../proxy/tap/tap-hub.js';
import { parsePromText } from './prom-text.js';
import type { Scrape } from './golden.js';
import type { ProxyTarget } from './targets.js';

// An admin port answers from memory; a proxy silent this long is as good as down.
const ADMIN_TIMEOUT_MS = 3000;

/** GETs `path` from an admin address; any answer but 200 is WEFT_ERR_ADMIN_UNREACHABLE. */
export function adminGet(admin: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${admin}${path}`, { timeout: ADMIN_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${admin}${path} answered ${res.statusCode}: ${body.trim()}`))));
      res.on('error', (err) => reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${admin}${path}: ${err.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${ADMIN_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${admin}${path}: ${err.message} (is \`weft up\` running with this mesh file?)`)));
  });
}

/** GETs `path` from a target's admin listener, directly or by the target's own route. */
export function readAdmin(target: ProxyTarget, path: string): Promise<string> {
  return target.read ? target.read(path) : adminGet(target.admin, path);
}

/** Scrapes every target's /metrics; a target that does not answer is reported, the rest kept. */
export async function scrapeAll(targets: readonly ProxyTarget[]): Promise<{ scrapes: Scrape[]; errors: string[] }> {
  const results = await Promise.allSettled(targets.map(async (target) => ({ target, samples: parsePromText(await readAdmin(target, '/metrics')) })));
  const scrapes: Scrape[] = [];
  const errors: string[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') scrapes.push(r.value);
    else errors.push((r.reason as Error).message);
  }
  return { scrapes, errors };
}

/** An attached tap on one proxy. */
export interface TapStream {
  readonly target: ProxyTarget;
  close(): void;
}

/**
 * Attaches a tap with `query` to `target`; resolves once the proxy has attached it (its response
 * headers arrived), then calls `onEvent` per finished request until closed.
 */
export async function openTap(target: ProxyTarget, query: string, onEvent: (event: TapEvent, target: ProxyTarget) => void, onEnd: (error?: Error) => void): Promise<TapStream> {
  // Kubernetes mode: over the target's own stream (a port-forward to the pod's loopback).
  const stream = target.connect ? await target.connect() : undefined;
  return new Promise((resolve, reject) => {
    const path = `/debug/tap${query ? `?${query}` : ''}`;
    const req = http.get(stream ? { host: 'localhost', path, createConnection: () => stream } : `http://${target.admin}${path}`, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${target.admin}/debug/tap answered ${res.statusCode}: ${body.trim()}`)));
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim() !== '') onEvent(JSON.parse(line) as TapEvent, target);
          nl = buffered.indexOf('\n');
        }
      });
      res.on('end', () => onEnd());
      res.on('error', (err) => onEnd(err));
      resolve({ target, close: () => req.destroy() });
    });
    // A forward's own errors name the pod already.
    req.on('error', (err) => reject(stream ? new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', err.message) : new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${target.admin}/debug/tap: ${err.message} (is \`weft up\` running with this mesh file?)`)));
  });
}

/**
 * Attaches a tap to every target; all or none (a refusal closes the ones already open), unless
 * `onUnreachable` is given: then each refusal goes to it and the rest are kept (none open: throws).
 */
export async function openTaps(
  targets: readonly ProxyTarget[], query: string, onEvent: (event: TapEvent, target: ProxyTarget) => void, onEnd: (target: ProxyTarget, error?: Error) => void, onUnreachable?: (error: Error) => void,
): Promise<TapStream[]> {
  const results = await Promise.allSettled(targets.map((t) => openTap(t, query, onEvent, (error) => onEnd(t, error))));
  const open = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  const first = failed[0];
  if (onUnreachable && open.length > 0) for (const e of failed) onUnreachable(e);
  else if (first) {
    for (const s of open) s.close();
    throw first;
  }
  return open;
}
