// The tap's filter (pure): parsed from the /debug/tap query, matched against finished exchanges.
import { WeftError } from '../../lib/errors.js';
import type { Exchange } from '../exchange.js';

/** Which finished exchanges a tap receives; an empty field matches everything. */
export interface TapFilter {
  /** A service name ("hello"), "ns/name", or the exchange's full service ("demo/hello:80", "port 8080"). */
  readonly service: string;
  /** A path prefix ("/api"). */
  readonly pathPrefix: string;
  /** An exact status (500) or a class (5 for "5xx"); 0: any. */
  readonly status: number;
  readonly statusClass: boolean;
  readonly direction: '' | 'inbound' | 'outbound';
}

const KNOWN = new Set(['service', 'path', 'status', 'direction']);

/** Parses `service`, `path`, `status` (500 or 5xx) and `direction`; anything else is WEFT_ERR_TAP_FILTER. */
export function parseTapFilter(query: URLSearchParams): TapFilter {
  const problems: string[] = [];
  for (const key of query.keys()) if (!KNOWN.has(key)) problems.push(`unknown filter ${JSON.stringify(key)} (known: service, path, status, direction)`);
  const service = query.get('service') ?? '';
  const pathPrefix = query.get('path') ?? '';
  if (pathPrefix !== '' && !pathPrefix.startsWith('/')) problems.push(`path ${JSON.stringify(pathPrefix)} must start with /`);
  const statusText = query.get('status') ?? '';
  let status = 0;
  let statusClass = false;
  if (/^[1-5]xx$/i.test(statusText)) {
    status = Number(statusText[0]);
    statusClass = true;
  } else if (/^[1-5]\d\d$/.test(statusText)) status = Number(statusText);
  else if (statusText !== '') problems.push(`status ${JSON.stringify(statusText)} is not a status (500) or a class (5xx)`);
  const direction = query.get('direction') ?? '';
  if (direction !== '' && direction !== 'inbound' && direction !== 'outbound') problems.push(`direction ${JSON.stringify(direction)} is not inbound or outbound`);
  if (problems.length > 0) throw new WeftError('WEFT_ERR_TAP_FILTER', problems.join('; '));
  return { service, pathPrefix, status, statusClass, direction: direction as TapFilter['direction'] };
}

/** True when `exchange` passes `filter`. */
export function tapMatches(filter: TapFilter, exchange: Exchange): boolean {
  if (filter.direction !== '' && exchange.direction !== filter.direction) return false;
  if (filter.pathPrefix !== '' && !exchange.path.startsWith(filter.pathPrefix)) return false;
  if (filter.status !== 0) {
    if (filter.statusClass ? Math.floor(exchange.status / 100) !== filter.status : exchange.status !== filter.status) return false;
  }
  return filter.service === '' || serviceMatches(filter.service, exchange.service);
}

// "demo/hello:80" is matched by "hello", "demo/hello" and itself.
function serviceMatches(wanted: string, service: string): boolean {
  if (wanted === service) return true;
  const colon = service.lastIndexOf(':');
  const nsName = colon < 0 ? service : service.slice(0, colon);
  if (wanted === nsName) return true;
  const slash = nsName.indexOf('/');
  return slash >= 0 && wanted === nsName.slice(slash + 1);
}
