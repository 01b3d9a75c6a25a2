// `weft init`: writes the pod's nat rules (init/rules.ts) with iptables-restore, once
// per address family, or prints them with --dry-run. Runs as the weft-init init container.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Command, CommandContext } from './command.js';
import { unknownVariableWarnings } from './settings.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import {
  CHAINS,
  captureSource,
  existingRulesFromSave,
  parseCaptureOptions,
  renderRules,
  type CaptureOptions,
  type IpFamily,
} from '../init/rules.js';

/** What running a tool gave back. */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The iptables tools of one family. */
interface FamilyTools {
  readonly save: string;
  readonly restore: string;
}

const TOOL_NAMES: Record<IpFamily, { save: string; restore: string }> = {
  4: { save: 'iptables-save', restore: 'iptables-restore' },
  6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

/** Finds an executable on PATH; undefined when it is not there. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function runTool(file: string, args: readonly string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** True when the network namespace has any IPv6 address (even ::1): IPv6 sockets can then be made. */
export function hasIpv6(ifInet6: string | undefined): boolean {
  return ifInet6 !== undefined && ifInet6.trim() !== '';
}

/** Which families get rules, and why IPv6 is left out when it is. */
export function chooseFamilies(
  setting: CaptureOptions['ipv6'],
  podHasIpv6: boolean,
  ip6tablesFound: boolean,
): { families: IpFamily[]; note?: string; error?: string } {
  if (setting === 'off') return { families: [4], note: 'IPv6 capture is off (--ipv6 off)' };
  if (setting === 'on') {
    if (!ip6tablesFound) return { families: [4], error: '--ipv6 on, but ip6tables-save/ip6tables-restore are not on PATH' };
    return { families: [4, 6] };
  }
  if (!podHasIpv6) return { families: [4], note: 'the pod has no IPv6 address; IPv6 rules skipped' };
  if (!ip6tablesFound) return { families: [4], note: 'the pod has IPv6 but ip6tables is missing; IPv6 traffic is NOT captured' };
  return { families: [4, 6] };
}

function classifyFailure(tool: string, result: ToolResult): WeftError {
  const text = `${result.stderr}${result.stdout}`.trim();
  if (/permission denied|operation not permitted|you must be root/i.test(text)) {
    return new WeftError(
      'WEFT_ERR_CAPTURE_DENIED',
      `${tool} was not permitted (${text.split('\n')[0]}); weft init needs root with NET_ADMIN and NET_RAW in the pod's network namespace`,
    );
  }
  return new WeftError('WEFT_ERR_CAPTURE_APPLY', `${tool} failed with status ${result.code}: ${text}`);
}

async function applyFamily(
  options: CaptureOptions,
  family: IpFamily,
  tools: FamilyTools,
  out: CommandContext['stdout'],
): Promise<void> {
  const before = await runTool(tools.save, ['-t', 'nat']);
  if (before.code !== 0) throw classifyFailure(tools.save, before);
  const input = renderRules(options, family, existingRulesFromSave(before.stdout));
  const applied = await runTool(tools.restore, ['--noflush'], input);
  if (applied.code !== 0) throw classifyFailure(tools.restore, applied);
  const after = await runTool(tools.save, ['-t', 'nat']);
  if (after.code !== 0) throw classifyFailure(tools.save, after);
  const ours = after.stdout
    .split('\n')
    .filter((l) => Object.values(CHAINS).some((chain) => l.includes(chain)));
  out.write(`weft init: IPv${family} nat rules applied (${options.inboundMode} inbound):\n${ours.join('\n')}\n`);
}

/** The `weft init` command. */
export const initCommand: Command = {
  summary: "write the pod's iptables rules that route its TCP through the sidecar",
  async run(ctx: CommandContext): Promise<number> {
    let options: CaptureOptions;
    try {
      const { source, problems } = captureSource(ctx.argv, ctx.env);
      options = parseCaptureOptions(source, problems);
    } catch (err) {
      if (!isWeftError(err, 'WEFT_ERR_CONFIG')) throw err;
      ctx.stderr.write(`weft init: ${err.code}: ${err.message}\n`);
      return 2;
    }
    for (const line of unknownVariableWarnings(ctx.env)) ctx.stderr.write(`weft init: warning: ${line}\n`);

    const find = (family: IpFamily): FamilyTools | undefined => {
      const save = findOnPath(TOOL_NAMES[family].save, ctx.env.PATH);
      const restore = findOnPath(TOOL_NAMES[family].restore, ctx.env.PATH);
      return save && restore ? { save, restore } : undefined;
    };
    let ifInet6: string | undefined;
    try {
      ifInet6 = readFileSync('/proc/net/if_inet6', 'utf8');
    } catch {
      ifInet6 = undefined; // kernel without IPv6
    }
    const v6Tools = find(6);

    if (options.dryRun) {
      // A dry run shows what a fresh pod gets, both families unless IPv6 is off; it reads nothing.
      ctx.stdout.write(renderRules(options, 4));
      if (options.ipv6 !== 'off') ctx.stdout.write(`\n${renderRules(options, 6)}`);
      return 0;
    }

    if (!options.apply) {
      throw new WeftError(
        'WEFT_ERR_INIT_REFUSED',
        "not changing any rule: weft init rewrites the nat table of the network namespace it runs in, so it does so only in a pod's init container (the injector sets WEFT_INIT_APPLY=true) or with --apply; weft init --dry-run prints the rules",
      );
    }
    const v4Tools = find(4);
    if (!v4Tools) {
      throw new WeftError(
        'WEFT_ERR_CAPTURE_TOOLS',
        'iptables-save and iptables-restore are not on PATH; install iptables (Debian: apt-get install iptables) in the init image',
      );
    }
    const plan = chooseFamilies(options.ipv6, hasIpv6(ifInet6), v6Tools !== undefined);
    if (plan.error) throw new WeftError('WEFT_ERR_CAPTURE_TOOLS', plan.error);
    if (plan.note) ctx.stderr.write(`weft init: ${plan.note}\n`);
    for (const family of plan.families) {
      await applyFamily(options, family, family === 4 ? v4Tools : (v6Tools as FamilyTools), ctx.stdout);
    }
    return 0;
  },
};
