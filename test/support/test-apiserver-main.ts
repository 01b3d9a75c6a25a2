// Runs the test API server as its own process: `node dist-test/test/support/test-apiserver-main.js
// [--host h] [--port p] [--kubeconfig file] [--bookmark-interval-ms n]`. Prints one JSON line
// {url, port, kubeconfig, adminToken}, then takes JSON-line commands on stdin and answers each
// with a JSON line: {"op":"apply","object":{...}}, {"op":"delete","apiVersion","kind","namespace","name"},
// {"op":"applyMany","objects":[...]}, {"op":"token", ...TokenOptions}, {"op":"compact"}, {"op":"cut"}, {"op":"expire"},
// {"op":"stop"}, {"op":"restart"}, {"op":"removeResource","apiVersion","resource"?} (stop serving kinds: 404),
// {"op":"serveResource","apiVersion","resource"?} (serve removed ones again), {"op":"fault","action":{...},
// "match":{verb?,resource?},"count"?} (see TestApiServer.injectFault), {"op":"clearFaults"},
// {"op":"outage","mode":"refuse"|"reset"}, {"op":"endOutage"}, {"op":"maxPageSize","n"},
// {"op":"requestLog"} (answers {log:[...]}). Ends on SIGTERM or SIGINT.
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { StatusError, TestApiServer, type FaultAction, type FaultMatch, type KubeObject, type ResourceDef, type TokenOptions } from './test-apiserver.js';

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const server = await TestApiServer.start({
  host: flag('host') ?? '127.0.0.1',
  port: Number(flag('port') ?? '0'),
  ...(flag('bookmark-interval-ms') ? { bookmarkIntervalMs: Number(flag('bookmark-interval-ms')) } : {}),
});
const kubeconfigPath = flag('kubeconfig');
if (kubeconfigPath) writeFileSync(kubeconfigPath, server.kubeconfig(), { mode: 0o600 });
process.stdout.write(JSON.stringify({ url: server.url, port: server.port, kubeconfig: kubeconfigPath ?? null, adminToken: server.adminToken }) + '\n');

interface Command {
  op?: string;
  object?: KubeObject;
  objects?: KubeObject[];
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  resource?: string;
  action?: FaultAction;
  match?: FaultMatch;
  count?: number;
  mode?: 'refuse' | 'reset';
  n?: number;
}

/** Types removed by removeResource, so that serveResource can bring them back. */
const removed: ResourceDef[] = [];

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  (async () => {
    if (line.trim() === '') return;
    try {
      const cmd = JSON.parse(line) as Command & TokenOptions;
      let result: unknown = { ok: true };
      switch (cmd.op) {
        case 'apply':
          if (!cmd.object) throw new Error('apply needs object');
          result = server.apply(cmd.object);
          break;
        case 'applyMany':
          for (const o of cmd.objects ?? []) server.apply(o);
          result = { ok: true, resourceVersion: server.resourceVersion };
          break;
        case 'delete':
          result = server.delete(cmd.apiVersion ?? '', cmd.kind ?? '', cmd.namespace, cmd.name ?? '');
          break;
        case 'token':
          result = { token: server.issueToken(cmd) };
          break;
        case 'kubeconfig':
          writeFileSync(String((cmd as { path?: string }).path ?? ''), server.kubeconfig(), { mode: 0o600 });
          break;
        case 'compact':
          server.compact();
          break;
        case 'cut':
          server.cutWatches();
          break;
        case 'expire':
          server.expireWatches();
          break;
        case 'removeResource': {
          const defs = server.removeResource(cmd.apiVersion ?? '', cmd.resource);
          removed.push(...defs);
          result = { ok: true, removed: defs.map((d) => d.resource) };
          break;
        }
        case 'serveResource': {
          const back = removed.filter((d) => (d.group === '' ? d.version : `${d.group}/${d.version}`) === cmd.apiVersion && (cmd.resource === undefined || d.resource === cmd.resource));
          server.serveResource(back);
          for (const d of back) removed.splice(removed.indexOf(d), 1);
          result = { ok: true, served: back.map((d) => d.resource) };
          break;
        }
        case 'fault':
          if (!cmd.action) throw new Error('fault needs action');
          server.injectFault(cmd.action, cmd.match ?? {}, cmd.count ?? Infinity);
          break;
        case 'clearFaults':
          server.clearFaults();
          break;
        case 'outage':
          await server.startOutage(cmd.mode ?? 'refuse');
          break;
        case 'endOutage':
          await server.endOutage();
          break;
        case 'maxPageSize':
          server.maxPageSize = cmd.n ?? 0;
          break;
        case 'requestLog':
          result = { log: server.requestLog };
          break;
        case 'stop':
          await server.stop();
          break;
        case 'restart':
          await server.restart();
          break;
        default:
          throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
      }
      process.stdout.write(JSON.stringify(result) + '\n');
    } catch (err) {
      const error = err instanceof StatusError ? err.status : { message: (err as Error).message };
      process.stdout.write(JSON.stringify({ error }) + '\n');
    }
  })().catch((err: unknown) => process.stderr.write(`test-apiserver-main: ${(err as Error).stack ?? String(err)}\n`));
});

const stop = (): void => {
  server.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`test-apiserver-main: stop failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
