// `weft inject -f in.yaml`: the webhook's patching, offline, for GitOps and review. Writes the
// injected YAML to stdout and one line per object to stderr.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';
import { ConfigReader } from '../lib/config.js';
import { isWeftError } from '../lib/errors.js';
import { injectManifests } from '../injector/manifests.js';
import { readInjectorSettings } from '../injector/settings.js';
import { readTrustAnchors } from '../injector/trust-anchors.js';
import { unknownVariableWarnings } from './settings.js';
import type { Command } from './command.js';

const USAGE = `usage: weft inject -f <file|-> --trust-anchors <roots.pem> [--image <image>] [--native-sidecars | --no-native-sidecars] [--quiet]
  Writes the YAML with every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob
  injected; other kinds pass through. Settings also come from WEFT_INJECTOR_* (docs/injection.md).
  --trust-anchors is the PEM written into each proxy's WEFT_TRUST_ANCHORS, e.g.
  kubectl -n weft-system get configmap weft-trust-anchors -o jsonpath='{.data.roots\\.pem}' > roots.pem
`;

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The `weft inject` subcommand. */
export const injectCommand: Command = {
  summary: 'inject the sidecar into Kubernetes YAML (offline, for GitOps)',
  async run(ctx) {
    let args;
    try {
      args = parseArgs({
        args: [...ctx.argv],
        options: {
          file: { type: 'string', short: 'f' },
          image: { type: 'string' },
          'trust-anchors': { type: 'string' },
          'native-sidecars': { type: 'boolean' },
          'no-native-sidecars': { type: 'boolean' },
          quiet: { type: 'boolean', short: 'q' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: false,
      }).values;
    } catch (err) {
      ctx.stderr.write(`weft inject: WEFT_ERR_USAGE: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    if (args.help) {
      ctx.stdout.write(USAGE);
      return 0;
    }
    if (args.file === undefined) {
      ctx.stderr.write(`weft inject: WEFT_ERR_USAGE: -f <file> is required (use -f - for stdin)\n${USAGE}`);
      return 2;
    }
    const env: Record<string, string | undefined> = { ...ctx.env };
    if (args.image !== undefined) env['WEFT_INJECTOR_IMAGE'] = args.image;
    if (args['trust-anchors'] !== undefined) env['WEFT_INJECTOR_TRUST_ANCHORS_FILE'] = args['trust-anchors'];
    if (args['native-sidecars']) env['WEFT_INJECTOR_NATIVE_SIDECARS'] = 'true';
    if (args['no-native-sidecars']) env['WEFT_INJECTOR_NATIVE_SIDECARS'] = 'false';
    for (const line of unknownVariableWarnings(ctx.env)) ctx.stderr.write(`warning: ${line}\n`);
    const r = new ConfigReader(env);
    const read = readInjectorSettings(r);
    r.done();
    let trustAnchors: string | undefined;
    let trustProblem = '';
    try {
      trustAnchors = await readTrustAnchors(read.trustAnchorsFile);
    } catch (err) {
      // Only an error when something is to be injected: pass-through input needs no anchors.
      trustProblem = (err as Error).message;
    }
    const settings = { ...read, trustAnchors };
    let text: string;
    try {
      text = args.file === '-' ? await readAll(ctx.stdin) : await readFile(args.file, 'utf8');
    } catch (err) {
      ctx.stderr.write(`weft inject: WEFT_ERR_FILE: cannot read ${args.file}: ${(err as Error).message}\n`);
      return 1;
    }
    try {
      const result = injectManifests(text, settings);
      ctx.stdout.write(result.yaml);
      if (!args.quiet) {
        for (const line of result.report) ctx.stderr.write(`${line.object}: ${line.outcome} (${line.detail})\n`);
      }
      for (const w of result.warnings) ctx.stderr.write(`warning: ${w}\n`);
      return 0;
    } catch (err) {
      if (isWeftError(err)) {
        const why = err.code === 'WEFT_ERR_INJECT_NO_TRUST_ANCHORS' && trustProblem !== '' ? ` (${trustProblem}; pass --trust-anchors)` : '';
        ctx.stderr.write(`weft inject: ${err.code}: ${err.message}${why}\n`);
        return 1;
      }
      throw err;
    }
  },
};
