// `weft await-proxy`: the fallback (non-native sidecar) postStart hook. It returns once the proxy's
// /ready answers 200, and the kubelet starts the app containers only after it returns.
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { ADMIN_PORT } from '../lib/ports.js';
import type { Command } from './command.js';

function probe(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The `weft await-proxy` subcommand. */
export const awaitProxyCommand: Command = {
  summary: 'wait until the local proxy is ready (postStart hook of the fallback sidecar)',
  async run(ctx) {
    const { values } = parseArgs({
      args: [...ctx.argv],
      options: { 'timeout-seconds': { type: 'string', default: '120' }, url: { type: 'string', default: `http://127.0.0.1:${ADMIN_PORT}/ready` } },
    });
    const timeoutMs = Number(values['timeout-seconds']) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      ctx.stderr.write(`weft await-proxy: WEFT_ERR_USAGE: --timeout-seconds ${JSON.stringify(values['timeout-seconds'])} is not a positive number\n`);
      return 2;
    }
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !ctx.shutdown.aborted) {
      if (await probe(values.url)) return 0;
      await new Promise((r) => setTimeout(r, 200));
    }
    ctx.stderr.write(`weft await-proxy: WEFT_ERR_NOT_READY: ${values.url} was not ready within ${values['timeout-seconds']} s\n`);
    return 1;
  },
};
