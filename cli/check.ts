// `weft check`: health and preflight of a weft installation, in the spirit of `linkerd check`.
// Gathers facts from the cluster (check/gather.ts), judges them (check/checks.ts) and
// prints each result with what to do. Exit status: 0 all passed, 1 a check failed, 2 warnings
// only, 3 weft check itself could not run (bad flags, no cluster configuration).
import { parseArgs } from 'node:util';
import { KubeClient } from '../lib/kube/client.js';
import { kubeConnectionFromEnv } from '../lib/kube/config.js';
import { isWeftError } from '../lib/errors.js';
import { runChecks } from '../check/checks.js';
import { gatherFacts } from '../check/gather.js';
import { exitStatus, formatResults } from '../check/results.js';
import { ADMIN_PORT } from '../lib/ports.js';
import type { Command } from './command.js';

const USAGE = `usage: weft check [-n weft-system] [--injector-url https://127.0.0.1:8443] [-o text|json]

Checks the API server and its version, native sidecar support, each component's RBAC, the CA and
the expiry of the root and issuer, the webhook and its caBundle, and every pod of each namespace
labelled weft.dev/inject=enabled. The cluster comes from KUBECONFIG or the in-cluster account.

  -n, --namespace       namespace weft is installed in (default weft-system)
      --injector-url    also check the injector's live certificate there (kubectl port-forward)
      --proxy-admin-port  the proxies' admin port (default ${ADMIN_PORT})
  -o, --output          text (default) or json

exit status: 0 all passed, 1 a check failed, 2 warnings only, 3 could not run
`;

/** The `weft check` subcommand. */
export const checkCommand: Command = {
  summary: 'check a cluster running weft: API, RBAC, CA and expiry, webhook, meshed pods (exit 0 pass, 1 fail, 2 warn)',
  async run(ctx) {
    let values: { namespace?: string; 'injector-url'?: string; 'proxy-admin-port'?: string; output?: string; help?: boolean };
    try {
      ({ values } = parseArgs({
        args: [...ctx.argv],
        options: {
          namespace: { type: 'string', short: 'n' },
          'injector-url': { type: 'string' },
          'proxy-admin-port': { type: 'string' },
          output: { type: 'string', short: 'o' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
      }));
    } catch (err) {
      ctx.stderr.write(`weft check: WEFT_ERR_USAGE: ${(err as Error).message}\n\n${USAGE}`);
      return 3;
    }
    if (values.help) {
      ctx.stdout.write(USAGE);
      return 0;
    }
    const output = values.output ?? 'text';
    const port = Number(values['proxy-admin-port'] ?? String(ADMIN_PORT));
    const problems: string[] = [];
    if (output !== 'text' && output !== 'json') problems.push(`--output ${JSON.stringify(output)} must be text or json`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`--proxy-admin-port ${JSON.stringify(values['proxy-admin-port'])} is not a port`);
    if (values['injector-url'] !== undefined && !/^https:\/\/[^/]+/.test(values['injector-url'])) problems.push(`--injector-url ${JSON.stringify(values['injector-url'])} is not an https:// URL`);
    if (problems.length > 0) {
      ctx.stderr.write(`weft check: WEFT_ERR_USAGE: ${problems.join('; ')}\n\n${USAGE}`);
      return 3;
    }
    let client: KubeClient;
    try {
      client = new KubeClient(await kubeConnectionFromEnv(ctx.env));
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft check: ${err.code}: ${err.message}\n`);
      return 3;
    }
    try {
      const facts = await gatherFacts(client, {
        namespace: values.namespace ?? 'weft-system',
        proxyAdminPort: port,
        maxCertReadsPerNamespace: 50,
        ...(values['injector-url'] ? { injectorUrl: values['injector-url'] } : {}),
      });
      const results = runChecks(facts, new Date());
      ctx.stdout.write(output === 'json' ? `${JSON.stringify({ status: exitStatus(results), results }, null, 2)}\n` : formatResults(results));
      return exitStatus(results);
    } finally {
      client.close();
    }
  },
};
