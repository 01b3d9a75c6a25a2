// `weft tap`: a live stream of the requests a local mesh's sidecars finish, filtered by service,
// path prefix, status and direction; credential headers arrive redacted from the proxies.
import { meshTargets } from './observe/targets.js';
import { KUBE_FLAGS, parseObserveArgs } from './observe/args.js';
import { openTaps } from './observe/admin-client.js';
import { planTap } from './observe/tap-plan.js';
import { isWeftError } from '../lib/errors.js';
import type { TapEvent } from '../proxy/tap/tap-hub.js';
import type { ProxyTarget } from './observe/targets.js';
import type { Command } from './command.js';

const USAGE = 'usage: weft tap [-f mesh.yaml] [--service NAME] [--path /prefix] [--status 500|5xx] [--direction inbound|outbound] [--max N] [-o table|json]';

/** The `weft tap` subcommand. */
export const tapCommand: Command = {
  summary: 'live stream of requests matching a filter (service, path, status), headers redacted',
  async run(ctx) {
    const args = parseObserveArgs(ctx.argv, ['file', 'service', 'path', 'status', 'direction', 'max', 'output', ...KUBE_FLAGS], { windowMs: 0 });
    if (typeof args === 'string') {
      ctx.stderr.write(`weft tap: WEFT_ERR_USAGE: ${args}; ${USAGE}\n`);
      return 2;
    }
    if (args.kube) {
      // Refused up front rather than tried: in a cluster the pods/proxy request reaches the tap from
      // the API server's address, which the proxy refuses (docs/observability.md, Kubernetes mode).
      ctx.stderr.write(`weft tap: WEFT_ERR_USAGE: --kubeconfig / -n / -A: weft tap has no Kubernetes mode yet (the proxies' tap answers loopback clients only); use weft stat or weft dashboard; ${USAGE}\n`);
      return 2;
    }
    try {
      const { targets } = await meshTargets(args.file);
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
      const streams = await openTaps(plan.targets, plan.query, onEvent, (target, error) => {
        if (error && !ctx.shutdown.aborted && !(args.max > 0 && seen >= args.max)) ctx.stderr.write(`weft tap: ${target.pod}: ${error.message}\n`);
        open -= 1;
        if (open === 0) stop();
      });
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
    }
  },
};

// One request per line, as a person scans it.
function tapLine(e: TapEvent, target: ProxyTarget): string {
  const headers = Object.entries(e.headers ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return `${e.direction.padEnd(8)} ${target.pod} ${e.method} ${e.path} ${e.status}${e.error ? ` ${e.error}` : ''} ${e.durationMs}ms peer=${e.peer || '-'} service=${e.service || '-'}${headers ? ` ${headers}` : ''}\n`;
}
