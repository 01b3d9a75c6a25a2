// `weft authz explain`: reads a policy file (the `authorization` section of a mesh or endpoints
// file, YAML or JSON) and answers "would this identity be allowed to call METHOD PATH on a pod
// with these namespace, labels and port, and by which rule" with the sidecar's own decision.
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { compileAuthorizer } from '../mesh/authz/decide.js';
import { isDefaultInboundPolicy, parsePolicySection } from '../mesh/authz/policy.js';
import { meshAuthorization } from './up/authz-section.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import type { Command } from './command.js';

const USAGE = 'usage: weft authz explain -f FILE --identity SPIFFE_ID --namespace NS --port PORT [--labels k=v,...] [--method GET --path /x] [--default POLICY] [--trust-domain TD]';

/** The `weft authz` subcommand. */
export const authzCommand: Command = {
  summary: 'explain an authorization decision from a policy file: weft authz explain -f FILE --identity ID --namespace NS --port N [--method M --path P]',
  async run(ctx) {
    const [verb, ...rest] = ctx.argv;
    const opts = new Map<string, string>();
    for (let i = 0; i < rest.length; i += 2) {
      const key = rest[i] ?? '';
      const value = rest[i + 1];
      if (!key.startsWith('-') || value === undefined) {
        ctx.stderr.write(`weft authz: WEFT_ERR_USAGE: ${JSON.stringify(key)} needs a value\n${USAGE}\n`);
        return 2;
      }
      opts.set(key.replace(/^-+/, ''), value);
    }
    const file = opts.get('f') ?? opts.get('file');
    const identity = opts.get('identity');
    const namespace = opts.get('namespace');
    const port = Number(opts.get('port'));
    const defaultPolicy = opts.get('default');
    if (verb !== 'explain' || !file || !identity || !namespace || !Number.isInteger(port) || port < 1 || port > 65535 || (defaultPolicy !== undefined && !isDefaultInboundPolicy(defaultPolicy))) {
      ctx.stderr.write(`weft authz: WEFT_ERR_USAGE: explain needs -f, --identity, --namespace and --port\n${USAGE}\n`);
      return 2;
    }
    const labels: Record<string, string> = {};
    for (const pair of (opts.get('labels') ?? '').split(',').filter(Boolean)) {
      const [k = '', v = ''] = pair.split('=');
      labels[k] = v;
    }
    let set;
    try {
      const docs = parseAllDocuments(await readFile(file, 'utf8')).map((d) => d.toJS() as unknown);
      const doc = docs[0] as { authorization?: unknown; namespace?: unknown } | null | undefined;
      // A mesh file may leave a policy's namespace out: it is the mesh's (weft up's rule).
      const meshNamespace = typeof doc?.namespace === 'string' ? doc.namespace : 'demo';
      set = parsePolicySection(meshAuthorization(doc?.authorization ?? kubePolicies(docs, file), meshNamespace, file), file);
    } catch (err) {
      if (!isWeftError(err)) {
        ctx.stderr.write(`weft authz: WEFT_ERR_FILE: cannot read ${file}: ${(err as Error).message}\n`);
        return 2;
      }
      ctx.stderr.write(`weft authz: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const pod = { namespace, labels, trustDomain: opts.get('trust-domain') ?? 'cluster.local', defaultPolicy };
    const authorizer = compileAuthorizer(set, pod);
    const method = opts.get('method')?.toUpperCase();
    const path = method === undefined ? undefined : (opts.get('path') ?? '/');
    const d = authorizer.decide(identity, port, method, path);
    ctx.stdout.write(`${d.allowed ? 'ALLOWED' : 'DENIED'}: ${identity} ${method === undefined ? 'TCP' : `${method} ${path ?? ''}`} on ${namespace} port ${port}\n`);
    ctx.stdout.write(`  by ${d.policy}${d.rule >= 0 ? ` rule ${d.rule}` : ''}: ${d.reason}\n`);
    ctx.stdout.write(`  policies targeting the pod: ${authorizer.policies.join(', ') || '(none)'}; default ${authorizer.defaultPolicy}\n`);
    return d.allowed ? 0 : 1;
  },
};

// The file as `kubectl apply` takes it: AuthorizationPolicy documents, or a List of them. Anything
// else is refused by name, never read as "no policies" (a typo must not explain an allow).
function kubePolicies(docs: readonly unknown[], file: string): { policies: unknown[] } {
  const policies: unknown[] = [];
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    const o = doc as { kind?: unknown; items?: unknown };
    if (o.kind === 'List' && Array.isArray(o.items)) policies.push(...(o.items as unknown[]));
    else if (o.kind === 'AuthorizationPolicy') policies.push(doc);
    else throw new WeftError('WEFT_ERR_AUTHZ_POLICY', `${file}: neither a mesh file with an authorization section nor AuthorizationPolicy objects (found kind ${JSON.stringify(o.kind)})`);
  }
  return { policies };
}
