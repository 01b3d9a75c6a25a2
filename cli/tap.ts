// `weft tap`: a live stream of the requests a local mesh's sidecars finish, filtered by service,
// path prefix, status and direction; credential headers arrive redacted from the proxies.
import { observeSource, type ObserveSource } from './observe/observe-source.js';
import { realTimers } from '../lib/timers.js';
import { KUBE_FLAGS, parseObserveArgs } from './observe/args.js';
import { openTaps } from './observe/admin-client.js';
import { planTap } from './observe/tap-plan.js';
import { isWeftError } from '../lib/errors.js';
import type { TapEvent } from '../proxy/tap/tap-hub.js';
import type { ProxyTarget } from './observe/targets.js';
import type { Command } from './command.js';

const USAGE = 'usage: weft tap [-f mesh.yaml | --kubeconfig FILE | -n NAMESPACE | -A] [--service NAME] [--path /prefix] [--status 500|5xx] [--direction inbound|outbound] [--max N] [-o table|json]';

/** The `weft tap` subcommand. */
export const tapCommand: Command = {
  summary: 'live stream of requests matching a filter (service, path, status), headers redacted',
  async run(ctx) {
    const args = parseObserveArgs(ctx.argv, ['file', 'service', 'path', 'status', 'direction', 'max', 'output', ...KUBE_FLAGS], { windowMs: 0 });
    if (typeof args === 'string') {
      ctx.stderr.write(`weft tap: WEFT_ERR_USAGE: ${args}; ${USAGE}\n`);
      return 2;
    }
    let source: ObserveSource | undefined;
    try {
      source = await observeSource(args, ctx.env, realTimers);
      const { targets } = source;
      const plan = planTap(args, targets);
      let seen = 0;
      let open = plan.targets.length;
      let stop = (): void => {};
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const onEvent = (event: TapEvent, target: ProxyTarget): void => {
        if (args.max > 0 && seen >= args.max) return;
        seen += 1;
        ctx.stdout.write(args.output === 'json' ? JSON.stringify({ pod: target.pod, ...event }) + '\n' : tapLine(event, target));
        if (args.max > 0 && seen >= args.max) stop();
      };
      // In a cluster a pod that cannot be tapped is reported and the others watched; a local mesh is all or none.
      const unreachable = source.partial ? (e: Error) => ctx.stderr.write(`weft tap: warning: ${e.message}\n`) : undefined;
      const streams = await openTaps(plan.targets, plan.query, onEvent, (target, error) => {
        if (error && !ctx.shutdown.aborted && !(args.max > 0 && seen >= args.max)) ctx.stderr.write(`weft tap: ${target.pod}: ${error.message}\n`);
        open -= 1;
        if (open === 0) stop();
      }, unreachable);
      // Taps that never opened never end.
      open -= plan.targets.length - streams.length;
      if (open === 0) stop();
      ctx.stderr.write(`weft tap: tapping ${streams.length} sidecar(s): ${streams.map((s) => s.target.pod).join(', ')}\n`);
      ctx.shutdown.addEventListener('abort', stop, { once: true });
      if (ctx.shutdown.aborted) stop();
      await stopped;
      for (const s of streams) s.close();
      return 0;
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft tap: ${err.code}: ${err.message}\n`);
      return err.code === 'WEFT_ERR_MESH_FILE' || err.code === 'WEFT_ERR_TAP_FILTER' ? 2 : 1;
    } finally {
      source?.close();
    }
  },
};

// One request per line, as a person scans it.
function tapLine(e: TapEvent, target: ProxyTarget): string {
  const headers = Object.entries(e.headers ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return `${e.direction.padEnd(8)} ${target.pod} ${e.method} ${e.path} ${e.status}${e.error ? ` ${e.error}` : ''} ${e.durationMs}ms peer=${e.peer || '-'} service=${e.service || '-'}${headers ? ` ${headers}` : ''}\n`;
}
