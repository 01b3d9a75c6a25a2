// The admin routes over the tap hub: GET /debug/tap streams matching finished requests as NDJSON,
// GET /debug/recent-failures answers the failure ring. Both show request details, so both answer
// loopback clients only (the admin port may listen on the pod address), and no relayed request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WeftError, isWeftError } from '../../lib/errors.js';
import { parseTapFilter } from './tap-filter.js';
import type { TapHub } from './tap-hub.js';
import { localOnlyRefusal } from '../../lib/local-only.js';

/** Admin path of the live tap. */
export const TAP_PATH = '/debug/tap';
/** Admin path of the recent-failures ring. */
export const RECENT_FAILURES_PATH = '/debug/recent-failures';

// A tap is for a person or a dashboard watching; a handful at once is plenty, and each costs a
// JSON line per matching request.
const MAX_TAPS = 8;
// A reader slower than the traffic loses events rather than growing the proxy's memory.
const MAX_BUFFERED_BYTES = 256 * 1024;

/** The two admin routes, keyed by path, for the admin server's route table. */
export function tapRoutes(hub: TapHub): Map<string, (req: IncomingMessage, res: ServerResponse) => void> {
  return new Map([
    [TAP_PATH, (req: IncomingMessage, res: ServerResponse) => handleTap(hub, req, res)],
    [RECENT_FAILURES_PATH, (req: IncomingMessage, res: ServerResponse) => handleRecentFailures(hub, req, res)],
  ]);
}

function handleTap(hub: TapHub, req: IncomingMessage, res: ServerResponse): void {
  const refusal = localOnlyRefusal(req);
  if (refusal) return sendError(res, refusal);
  let filter;
  try {
    filter = parseTapFilter(new URL(req.url ?? '/', 'http://admin').searchParams);
  } catch (err) {
    if (!isWeftError(err)) throw err;
    return sendError(res, err);
  }
  if (hub.taps >= MAX_TAPS) return sendError(res, new WeftError('WEFT_ERR_TAP_BUSY', `${MAX_TAPS} taps are attached already`));
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const detach = hub.attach(filter, (line) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) return false;
    res.write(line);
    return true;
  });
  res.once('close', detach);
  // The headers go out now: a client knows the tap is attached when it sees them.
  res.flushHeaders();
}

function handleRecentFailures(hub: TapHub, req: IncomingMessage, res: ServerResponse): void {
  const refusal = localOnlyRefusal(req);
  if (refusal) return sendError(res, refusal);
  const body = JSON.stringify(hub.recentFailures(), null, 2) + '\n';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}


function sendError(res: ServerResponse, error: WeftError): void {
  const body = JSON.stringify({ code: error.code, message: error.message }) + '\n';
  res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'weft-error': error.code });
  res.end(body);
}
