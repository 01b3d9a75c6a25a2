// Every component's settings table in one place, as cli/commands.ts is for subcommands: the
// unknown-variable warning needs them all (a name another component reads is no slip, since the
// chart and the injector set variables for several), and docs/sidecar-config.md is rendered from them.
import { describeUnknownSetting, renderSettingsTable, settingNames, unknownSettings, type SettingsTable, type UnknownSetting } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { PROXY_SETTINGS } from '../proxy/config.js';
import { GATEWAY_SETTINGS } from '../gateway/config.js';
import { CA_SETTINGS } from '../ca/config.js';
import { DESTINATION_SETTINGS } from '../destination/config.js';
import { INJECTOR_SETTINGS } from '../injector/config.js';
import { INIT_SETTINGS } from '../init/rules.js';

/** The components whose tables are rendered into docs/sidecar-config.md, by marker name. */
export const COMPONENT_SETTINGS: Readonly<Record<string, SettingsTable>> = {
  proxy: PROXY_SETTINGS,
  gateway: GATEWAY_SETTINGS,
  ca: CA_SETTINGS,
  destination: DESTINATION_SETTINGS,
  injector: INJECTOR_SETTINGS,
  init: INIT_SETTINGS,
};

/** The variables `weft init` reads (each also a flag). */
export const INIT_SETTING_NAMES: readonly string[] = settingNames(INIT_SETTINGS);

/**
 * Variables the chart sets on a Deployment for `weft check` to read from the Deployment's spec, not
 * for the process itself (check/gather.ts): the Secrets the gateway's RBAC lets it read.
 */
export const CHECK_SETTING_NAMES: readonly string[] = ['WEFT_GATEWAY_TLS_SECRETS'];

/** Every WEFT_* variable some weft component reads. */
export const KNOWN_SETTING_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(COMPONENT_SETTINGS).flatMap(settingNames),
  ...INIT_SETTING_NAMES,
  ...CHECK_SETTING_NAMES,
]);

/** The WEFT_* variables of `env` that no component reads, each with its likely intended name. */
export function unknownWeftVariables(env: Readonly<Record<string, string | undefined>>): UnknownSetting[] {
  return unknownSettings(env, KNOWN_SETTING_NAMES);
}

/** Logs one warning per unknown WEFT_* variable of `env`: a slip would otherwise be silently ignored. */
export function warnUnknownVariables(env: Readonly<Record<string, string | undefined>>, log: Pick<Logger, 'warn'>): void {
  for (const u of unknownWeftVariables(env)) log.warn({ variable: u.name, suggestion: u.suggestion }, describeUnknownSetting(u));
}

/** One warning line per unknown WEFT_* variable of `env` (for commands that write to stderr). */
export function unknownVariableWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  return unknownWeftVariables(env).map(describeUnknownSetting);
}

const BEGIN = (name: string): string => `<!-- settings:${name} begin (generated from the code by npm run docs; do not edit) -->`;
const END = (name: string): string => `<!-- settings:${name} end -->`;

/**
 * `doc` with the text between each component's markers replaced by that component's table.
 * Throws when a component's markers are missing, so a table cannot silently drop out of the docs.
 */
export function renderSettingsDoc(doc: string): string {
  let out = doc;
  for (const [name, table] of Object.entries(COMPONENT_SETTINGS)) {
    const begin = out.indexOf(BEGIN(name));
    const end = out.indexOf(END(name));
    if (begin === -1 || end === -1 || end < begin) throw new Error(`docs/sidecar-config.md has no markers for the ${name} settings: ${BEGIN(name)} ... ${END(name)}`);
    out = `${out.slice(0, begin)}${BEGIN(name)}\n${renderSettingsTable(table)}\n${out.slice(end)}`;
  }
  return out;
}
