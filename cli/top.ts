// `weft top`: the busiest paths of a local mesh right now, from the sidecars' taps over a window.
import { observeSource, type ObserveSource } from './observe/observe-source.js';
import { KUBE_FLAGS, parseObserveArgs } from './observe/args.js';
import { openTaps } from './observe/admin-client.js';
import { planTap } from './observe/tap-plan.js';
import { num, percent, renderTable } from './observe/table.js';
import { isWeftError } from '../lib/errors.js';
import { realTimers } from '../lib/timers.js';
import { waitWindow } from './observe/window.js';
import type { TapEvent } from '../proxy/tap/tap-hub.js';
import type { ProxyTarget } from './observe/targets.js';
import type { Command } from './command.js';

const USAGE = 'usage: weft top [-f mesh.yaml | --kubeconfig FILE | -n NAMESPACE | -A] [--window 5s] [--rows 10] [--service NAME] [--path /prefix] [--status 5xx] [-o table|json]';

/** One path's row. */
export interface TopRow {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly requests: number;
  readonly failures: number;
  readonly successRate: number;
  readonly rps: number;
  readonly maxMs: number;
}

/** Counts events per (service, method, path without query), busiest first (pure). */
export function topRows(events: readonly { event: TapEvent; target: ProxyTarget }[], windowSeconds: number, rows: number): TopRow[] {
  const byKey = new Map<string, { service: string; method: string; path: string; requests: number; failures: number; maxMs: number }>();
  for (const { event, target } of events) {
    const q = event.path.indexOf('?');
    const path = q < 0 ? event.path : event.path.slice(0, q);
    const service = event.direction === 'inbound' ? target.service : event.service;
    const key = `${service} ${event.method} ${path}`;
    let row = byKey.get(key);
    if (!row) {
      row = { service, method: event.method, path, requests: 0, failures: 0, maxMs: 0 };
      byKey.set(key, row);
    }
    row.requests += 1;
    if (event.failed) row.failures += 1;
    row.maxMs = Math.max(row.maxMs, event.durationMs);
  }
  return [...byKey.values()]
    .sort((a, b) => b.requests - a.requests || a.path.localeCompare(b.path))
    .slice(0, rows)
    .map((r) => ({ ...r, successRate: (r.requests - r.failures) / r.requests, rps: windowSeconds > 0 ? r.requests / windowSeconds : 0 }));
}

/** The `weft top` subcommand. */
export const topCommand: Command = {
  summary: 'the busiest paths of the local mesh or a cluster now',
  async run(ctx) {
    const args = parseObserveArgs(ctx.argv, ['file', 'window', 'rows', 'service', 'path', 'status', 'output', ...KUBE_FLAGS], { windowMs: 5000 });
    if (typeof args === 'string') {
      ctx.stderr.write(`weft top: WEFT_ERR_USAGE: ${args}; ${USAGE}\n`);
      return 2;
    }
    let source: ObserveSource | undefined;
    try {
      source = await observeSource(args, ctx.env, realTimers);
      const { targets } = source;
      const plan = planTap(args, targets);
      const events: { event: TapEvent; target: ProxyTarget }[] = [];
      // In a cluster a pod that cannot be tapped is reported and the others watched; a local mesh is all or none.
      const unreachable = source.partial ? (e: Error) => ctx.stderr.write(`weft top: warning: ${e.message}\n`) : undefined;
      const streams = await openTaps(plan.targets, plan.query, (event, target) => events.push({ event, target }), () => {}, unreachable);
      ctx.stderr.write(`weft top: watching ${streams.length} sidecar(s) for ${args.windowMs / 1000}s\n`);
      await waitWindow(realTimers, args.windowMs, ctx.shutdown);
      for (const s of streams) s.close();
      const rows = topRows(events, args.windowMs / 1000, args.rows);
      if (args.output === 'json') ctx.stdout.write(JSON.stringify({ windowSeconds: args.windowMs / 1000, paths: rows }, null, 2) + '\n');
      else ctx.stdout.write(renderTable(['SERVICE', 'METHOD', 'PATH', 'REQUESTS', 'SUCCESS', 'RPS', 'MAX'], rows.map((r) => [r.service, r.method, r.path, String(r.requests), percent(r.successRate), num(r.rps, 2), num(r.maxMs, 1, 'ms')])));
      return 0;
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft top: ${err.code}: ${err.message}\n`);
      return err.code === 'WEFT_ERR_MESH_FILE' || err.code === 'WEFT_ERR_TAP_FILTER' ? 2 : 1;
    } finally {
      source?.close();
    }
  },
};
