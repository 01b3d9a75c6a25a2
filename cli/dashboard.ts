// `weft dashboard`: a web page, served by weft, showing the local mesh (or a cluster's meshed pods,
// through the API server) live: the service graph, golden metrics per service and edge, and a
// drill-down to a service's endpoints and failures.
import { observeSource, type ObserveSource } from './observe/observe-source.js';
import { KUBE_FLAGS, parseObserveArgs } from './observe/args.js';
import { DashboardData } from './observe/dashboard-data.js';
import { startDashboardServer } from './observe/dashboard-server.js';
import { PAGE_REFRESH_MS } from './observe/dashboard-page.js';
import { parseHostPort } from '../lib/config.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import { realTimers } from '../lib/timers.js';
import type { Command } from './command.js';

const USAGE = 'usage: weft dashboard [-f mesh.yaml | --kubeconfig FILE | -n NAMESPACE | -A] [--listen 127.0.0.1:7099] [--window 60s]';

/** The `weft dashboard` subcommand. */
export const dashboardCommand: Command = {
  summary: 'web dashboard of the local mesh or a cluster: service graph, golden metrics, endpoints, failures',
  async run(ctx) {
    const args = parseObserveArgs(ctx.argv, ['file', 'listen', 'window', ...KUBE_FLAGS], { windowMs: 60_000 });
    if (typeof args === 'string') {
      ctx.stderr.write(`weft dashboard: WEFT_ERR_USAGE: ${args}; ${USAGE}\n`);
      return 2;
    }
    const listen = parseHostPort(args.listen, '127.0.0.1');
    if (typeof listen === 'string' || args.windowMs < PAGE_REFRESH_MS) {
      ctx.stderr.write(`weft dashboard: WEFT_ERR_USAGE: ${typeof listen === 'string' ? `--listen: ${listen}` : `--window must be at least ${PAGE_REFRESH_MS / 1000}s`}; ${USAGE}\n`);
      return 2;
    }
    let data: DashboardData | undefined;
    let source: ObserveSource | undefined;
    try {
      source = await observeSource(args, ctx.env, realTimers);
      const { names, targets } = source;
      data = new DashboardData({ names, targets, timers: realTimers, refreshMs: PAGE_REFRESH_MS, windowMs: args.windowMs });
      const errors = await data.start();
      if (errors.length === targets.length) throw new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `no sidecar answered: ${errors.join('; ')}`);
      for (const e of errors) ctx.stderr.write(`weft dashboard: warning: ${e}\n`);
      const server = await startDashboardServer(listen, data).catch((err: Error) => {
        throw new WeftError('WEFT_ERR_CONFIG', `cannot listen on ${args.listen}: ${err.message}`);
      });
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : listen.port;
      ctx.stdout.write(`weft dashboard: serving http://${listen.host}:${port}/ (reading ${targets.length} sidecars of ${source.where}; Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => {
        if (ctx.shutdown.aborted) resolve();
        ctx.shutdown.addEventListener('abort', () => resolve(), { once: true });
      });
      server.close();
      server.closeAllConnections();
      data.close();
      return 0;
    } catch (err) {
      data?.close();
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft dashboard: ${err.code}: ${err.message}\n`);
      return err.code === 'WEFT_ERR_ADMIN_UNREACHABLE' || err.code.startsWith('WEFT_ERR_KUBE_') ? 1 : 2;
    } finally {
      source?.close();
    }
  },
};
