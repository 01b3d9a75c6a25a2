// Which proxies a `weft tap` / `weft top` attaches to, and with which query (pure). Each request is
// seen once, where it arrives (inbound) unless the user asks for the callers' side.
import { WeftError } from '../../lib/errors.js';
import type { ObserveArgs } from './args.js';
import type { ProxyTarget } from './targets.js';

/** The proxies to tap and the /debug/tap query for each. */
export interface TapPlan {
  readonly targets: readonly ProxyTarget[];
  readonly query: string;
}

/** Plans the taps: `--service` picks that service's pods (inbound) or filters every caller's outbound side. */
export function planTap(args: Pick<ObserveArgs, 'service' | 'path' | 'status' | 'direction'>, all: readonly ProxyTarget[]): TapPlan {
  const direction = args.direction === '' ? 'inbound' : args.direction;
  const query = new URLSearchParams({ direction });
  if (args.path) query.set('path', args.path);
  if (args.status) query.set('status', args.status);
  let targets = all;
  if (args.service !== '') {
    if (direction === 'inbound') {
      targets = all.filter((t) => t.service === args.service);
      if (targets.length === 0) throw new WeftError('WEFT_ERR_TAP_FILTER', `no service ${JSON.stringify(args.service)} in the mesh (services: ${[...new Set(all.map((t) => t.service))].join(', ')})`);
    } else query.set('service', args.service);
  }
  return { targets, query: query.toString() };
}
