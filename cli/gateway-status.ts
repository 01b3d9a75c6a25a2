// `weft gateway status`: asks a running gateway's admin port for the Gateway API status of what it
// serves (GET /debug/status) and prints each Gateway, listener and route parent with its conditions.
import { request } from 'node:http';
import type { CommandContext } from './command.js';
import { ADMIN_PORT } from '../lib/ports.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}
interface Status {
  kind: string;
  namespace: string;
  name: string;
  generation?: number;
  status: {
    conditions?: Cond[];
    addresses?: { value: string }[];
    listeners?: { name: string; attachedRoutes: number; conditions: Cond[] }[];
    parents?: { parentRef: { kind?: string; namespace?: string; name: string; sectionName?: string }; conditions: Cond[] }[];
  };
}

const USAGE = 'usage: weft gateway status [--admin host:port] [--json]\n';

/** Runs `weft gateway status`; the admin address is --admin, else WEFT_ADMIN_ADDR, else 127.0.0.1:7020. */
export async function runGatewayStatus(ctx: CommandContext, args: readonly string[]): Promise<number> {
  let admin = ctx.env['WEFT_ADMIN_ADDR'] ?? `127.0.0.1:${ADMIN_PORT}`;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--admin' && args[i + 1] !== undefined) admin = args[++i] ?? admin;
    else {
      ctx.stderr.write(`weft gateway status: WEFT_ERR_CONFIG: unknown argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
  }
  // A gateway listening on every interface is asked on loopback.
  const target = admin.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
  let body: string;
  try {
    body = await get(`http://${target}/debug/status`);
  } catch (err) {
    ctx.stderr.write(`weft gateway status: WEFT_ERR_CONFIG: cannot reach the gateway's admin port at ${target}: ${(err as Error).message}\n`);
    return 2;
  }
  if (json) {
    ctx.stdout.write(body);
    return 0;
  }
  const { statuses } = JSON.parse(body) as { statuses: Status[] };
  ctx.stdout.write(statuses.length === 0 ? 'no Gateway or HTTPRoute of class weft\n' : statuses.map(render).join(''));
  return 0;
}

const conds = (cs: readonly Cond[] | undefined): string => (cs ?? []).map((c) => `${c.type}=${c.status} (${c.reason})`).join(' ');
const problems = (cs: readonly Cond[] | undefined, indent: string): string =>
  (cs ?? [])
    .filter((c) => (c.type === 'Conflicted' ? c.status === 'True' : c.status !== 'True'))
    .map((c) => `${indent}${c.type}: ${c.message}\n`)
    .join('');

function render(s: Status): string {
  const gen = s.generation === undefined ? '' : ` (generation ${s.generation})`;
  let out = `${s.kind} ${s.namespace}/${s.name}${gen}`;
  if (s.kind === 'Gateway') {
    out += `: ${conds(s.status.conditions)}\n${problems(s.status.conditions, '    ')}`;
    if (s.status.addresses?.length) out += `  addresses: ${s.status.addresses.map((a) => a.value).join(', ')}\n`;
    for (const l of s.status.listeners ?? []) out += `  listener ${l.name}: attachedRoutes=${l.attachedRoutes} ${conds(l.conditions)}\n${problems(l.conditions, '    ')}`;
    return out;
  }
  out += '\n';
  for (const p of s.status.parents ?? []) {
    const ref = p.parentRef;
    out += `  parent ${ref.kind ?? 'Gateway'} ${ref.namespace ?? s.namespace}/${ref.name}${ref.sectionName ? `/${ref.sectionName}` : ''}: ${conds(p.conditions)}\n${problems(p.conditions, '    ')}`;
  }
  return out;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`HTTP ${res.statusCode ?? 0}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
