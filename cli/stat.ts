// `weft stat`: the golden metrics of every service and edge of a local mesh (or of a cluster's
// meshed pods, through the API server), read from the sidecars' admin ports, over a window (two
// scrapes) or since the sidecars started (--window 0).
import { observeSource, type ObserveSource } from './observe/observe-source.js';
import { KUBE_FLAGS, parseObserveArgs } from './observe/args.js';
import { scrapeAll } from './observe/admin-client.js';
import { goldenMetrics } from './observe/golden.js';
import { num, percent, renderTable } from './observe/table.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import { realTimers } from '../lib/timers.js';
import { waitWindow } from './observe/window.js';
import type { Command } from './command.js';

const USAGE = 'usage: weft stat [-f mesh.yaml | --kubeconfig FILE | -n NAMESPACE | -A] [--window 5s|0] [-o table|json]';

/** The `weft stat` subcommand. */
export const statCommand: Command = {
  summary: 'golden metrics per service and edge of the local mesh or a cluster',
  async run(ctx) {
    const args = parseObserveArgs(ctx.argv, ['file', 'window', 'output', ...KUBE_FLAGS], { windowMs: 5000 });
    if (typeof args === 'string') {
      ctx.stderr.write(`weft stat: WEFT_ERR_USAGE: ${args}; ${USAGE}\n`);
      return 2;
    }
    let source: ObserveSource | undefined;
    try {
      source = await observeSource(args, ctx.env, realTimers);
      const { names, targets } = source;
      const first = await scrapeAll(targets);
      if (first.scrapes.length === 0) throw new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `no sidecar answered: ${first.errors.join('; ')}`);
      for (const e of first.errors) ctx.stderr.write(`weft stat: warning: ${e}\n`);
      let now = first.scrapes;
      let before;
      let unreachable = first.errors;
      if (args.windowMs > 0) {
        ctx.stderr.write(`weft stat: measuring for ${args.windowMs / 1000}s\n`);
        await waitWindow(realTimers, args.windowMs, ctx.shutdown);
        // A pod must answer both scrapes to count: a difference against nothing is no rate.
        const second = await scrapeAll(targets);
        const answered = new Set(second.scrapes.map((s) => s.target));
        const kept = first.scrapes.filter((s) => answered.has(s.target));
        before = kept;
        now = second.scrapes.filter((s) => kept.some((k) => k.target === s.target));
        for (const e of second.errors) if (!unreachable.includes(e)) ctx.stderr.write(`weft stat: warning: ${e}\n`);
        unreachable = [...new Set([...first.errors, ...second.errors])];
      }
      const stat = goldenMetrics(names, now, before, args.windowMs / 1000);
      if (args.output === 'json') {
        ctx.stdout.write(JSON.stringify({ ...stat, unreachable }, null, 2) + '\n');
        return 0;
      }
      const over = before ? `last ${args.windowMs / 1000}s` : 'since the sidecars started';
      ctx.stdout.write(`Services (${over}):\n`);
      ctx.stdout.write(
        renderTable(
          ['SERVICE', 'PODS', 'REQUESTS', 'SUCCESS', 'RPS', 'P50', 'P95', 'P99', 'MTLS'],
          stat.services.map((s) => [s.service, String(s.pods), String(s.requests), percent(s.successRate), num(s.rps, 2), num(s.p50Ms, 1, 'ms'), num(s.p95Ms, 1, 'ms'), num(s.p99Ms, 1, 'ms'), percent(s.mtlsShare)]),
        ),
      );
      ctx.stdout.write(`\nEdges (caller -> service, ${over}):\n`);
      ctx.stdout.write(renderTable(['FROM', 'TO', 'REQUESTS', 'SUCCESS', 'RPS', 'MTLS'], stat.edges.map((e) => [e.from, e.to, String(e.requests), percent(e.successRate), num(e.rps, 2), percent(e.mtlsShare)])));
      if (unreachable.length > 0) ctx.stdout.write(`\nUnreachable (not counted above):\n${unreachable.map((e) => `  ${e}\n`).join('')}`);
      return 0;
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft stat: ${err.code}: ${err.message}\n`);
      return err.code === 'WEFT_ERR_MESH_FILE' ? 2 : 1;
    } finally {
      source?.close();
    }
  },
};
