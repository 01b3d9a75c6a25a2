// Settings as tables: each component declares its variables once (name, type, default, whether
// required, one doc line), and that table both parses a flat string map (process.env in production,
// a plain object in tests) and renders the docs. Every problem is collected so that a bad start
// lists them all at once, as fastify's initial-config-validation does, then the result is frozen.
import { WeftError } from './errors.js';
import { checkTrustAnchorsPem } from './trust-anchors.js';

/** A host and port to listen on or dial. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Why a setting's text was refused; a class so that a parser can return it beside any value. */
export class SettingProblem {
  /** The whole message, naming the variable. */
  readonly message: string;

  constructor(message: string) {
    this.message = message;
  }
}

/** How a setting's text becomes a value. */
export interface SettingType<T> {
  /** How the docs name the type: "int 1-65535", "duration ms", "host:port", ... */
  readonly label: string;
  /** The value, or a SettingProblem naming `name` and saying why the text is not one. */
  parse(raw: string, name: string): T | SettingProblem;
  /** How a default value is written in the docs. */
  format(value: T): string;
}

/** One row of a settings table. */
export interface Setting<T> {
  /** The environment variable. */
  readonly name: string;
  /** A command-line flag that overrides the variable (`weft init`). */
  readonly flag?: string;
  readonly type: SettingType<T>;
  /** The value when the variable is unset or blank (also the placeholder after a problem). */
  readonly default: T;
  /** true: always required; a mode ("kubernetes", "local"): required in that mode only. */
  readonly required?: boolean | string;
  /** Read in this mode only; in another mode the variable is ignored and the default stands. */
  readonly mode?: string;
  /** The default as the docs should say it, when the value alone would not explain it. */
  readonly defaultDoc?: string;
  /** One line for docs/sidecar-config.md. */
  readonly doc: string;
}

/** A component's settings: field name -> row. */
export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;

/** The parsed values of a table, field by field. */
export type SettingsValues<S extends SettingsTable> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Declares one row; a function only so that TypeScript infers the row's value type from its type, not its default. */
export function setting<T>(row: Omit<Setting<T>, 'default'> & { readonly default: NoInfer<T> }): Setting<T> {
  return row;
}

/** Any text. `label` says what kind (path, URL, JSON) in the docs. */
export function str(label = 'string'): SettingType<string> {
  return { label, parse: (raw) => raw, format: (v) => v };
}

/** An integer, optionally bounded; `label` replaces "int" (for example "duration ms", "hours"). */
export function int(bounds: { readonly min?: number; readonly max?: number } = {}, label = 'int'): SettingType<number> {
  const { min, max } = bounds;
  const range = min !== undefined && max !== undefined ? ` ${min}-${max}` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
  return {
    label: `${label}${range}`,
    parse(raw, name) {
      if (!/^-?\d+$/.test(raw)) return new SettingProblem(`${name}=${JSON.stringify(raw)} is not an integer`);
      const value = Number(raw);
      if (min !== undefined && value < min) return new SettingProblem(`${name}=${raw} is below the minimum ${min}`);
      if (max !== undefined && value > max) return new SettingProblem(`${name}=${raw} is above the maximum ${max}`);
      return value;
    },
    format: (v) => String(v),
  };
}

/** A duration in milliseconds (the unit is in the variable's name). */
export function durationMs(bounds: { readonly min?: number; readonly max?: number } = {}): SettingType<number> {
  return int(bounds, 'duration ms');
}

/** A port number, 1-65535. */
export function port(): SettingType<number> {
  return int({ min: 1, max: 65535 }, 'port');
}

/** true/false (or 1/0). */
export function bool(): SettingType<boolean> {
  return {
    label: 'bool',
    parse(raw, name) {
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return new SettingProblem(`${name}=${JSON.stringify(raw)} is not true or false`);
    },
    format: (v) => String(v),
  };
}

/** One of a fixed list of words. */
export function oneOf<T extends string>(allowed: readonly T[]): SettingType<T> {
  return {
    label: `enum: ${allowed.join(', ')}`,
    parse(raw, name) {
      if ((allowed as readonly string[]).includes(raw)) return raw as T;
      return new SettingProblem(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(', ')}`);
    },
    format: (v) => v,
  };
}

/** host:port, [v6]:port, or a bare port on `defaultHost`. */
export function hostPort(defaultHost: string): SettingType<HostPort> {
  return {
    label: 'host:port',
    parse(raw, name) {
      const parsed = parseHostPort(raw, defaultHost);
      return typeof parsed === 'string' ? new SettingProblem(`${name}=${JSON.stringify(raw)}: ${parsed}`) : parsed;
    },
    format: (v) => (v.host.includes(':') ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`),
  };
}

/** A comma-separated list, blank entries dropped; `item` says what an entry is, for the docs. */
export function list(item = 'string'): SettingType<readonly string[]> {
  return {
    label: `list of ${item}`,
    parse: (raw) => raw.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    format: (v) => v.join(','),
  };
}

/** PEM certificates, checked now so that a malformed bundle fails the start naming the variable. */
export function pemCertificates(): SettingType<string> {
  return {
    label: 'PEM certificates',
    parse(raw, name) {
      try {
        return checkTrustAnchorsPem(raw);
      } catch (err) {
        return new SettingProblem(`${name} ${(err as Error).message}`);
      }
    },
    format: () => '(PEM)',
  };
}

/** Makes a type's value optional: unset is `undefined`, which the docs show as "(none)". */
export function optional<T>(type: SettingType<T>): SettingType<T | undefined> {
  return { label: type.label, parse: (raw, name) => type.parse(raw, name), format: (v) => (v === undefined ? '(none)' : type.format(v)) };
}

/** Parses a table and records problems; call done() to throw every collected problem. */
export class ConfigReader {
  readonly #source: Readonly<Record<string, string | undefined>>;
  readonly #problems: string[] = [];

  constructor(source: Readonly<Record<string, string | undefined>>) {
    this.#source = source;
  }

  /** Records a problem found outside this reader (cross-field checks). */
  problem(message: string): void {
    this.#problems.push(message);
  }

  #raw(name: string): string | undefined {
    const value = this.#source[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  /** Reads one row: its value, or its default (recording a problem when the text is bad or a required value is missing). */
  setting<T>(row: Setting<T>, context: { readonly mode?: string } = {}): T {
    if (row.mode !== undefined && row.mode !== context.mode) return row.default;
    const raw = this.#raw(row.name);
    if (raw === undefined) {
      if (row.required === true || (typeof row.required === 'string' && row.required === context.mode)) this.#problems.push(`${row.name} is required`);
      return row.default;
    }
    const value = row.type.parse(raw, row.name);
    if (value instanceof SettingProblem) {
      this.#problems.push(value.message);
      return row.default;
    }
    return value;
  }

  /** Reads every row of a table, in table order (so problems come out in the docs' order). */
  table<S extends SettingsTable>(table: S, context: { readonly mode?: string } = {}): SettingsValues<S> {
    const out: Record<string, unknown> = {};
    for (const [key, row] of Object.entries(table)) out[key] = this.setting(row, context);
    return out as SettingsValues<S>;
  }

  /** Text with a fallback (for readers that have no table yet: `weft init`, the injector's pod defaults). */
  string(name: string, fallback: string): string {
    return this.setting({ name, type: str(), default: fallback, doc: '' });
  }

  optionalString(name: string): string | undefined {
    return this.#raw(name);
  }

  required(name: string): string {
    return this.setting({ name, type: str(), default: '', required: true, doc: '' });
  }

  integer(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
    return this.setting({ name, type: int(bounds), default: fallback, doc: '' });
  }

  boolean(name: string, fallback: boolean): boolean {
    return this.setting({ name, type: bool(), default: fallback, doc: '' });
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    return this.setting({ name, type: oneOf(allowed), default: fallback, doc: '' });
  }

  /** host:port; a bare port means the fallback host. */
  hostPort(name: string, fallback: HostPort): HostPort {
    return this.setting({ name, type: hostPort(fallback.host), default: fallback, doc: '' });
  }

  /** Comma-separated list, empty entries dropped. */
  list(name: string): string[] {
    return [...this.setting({ name, type: list(), default: [], doc: '' })];
  }

  /** Throws one WEFT_ERR_CONFIG naming every problem, if there were any. */
  done(): void {
    if (this.#problems.length > 0) {
      throw new WeftError('WEFT_ERR_CONFIG', `invalid configuration:\n  - ${this.#problems.join('\n  - ')}`);
    }
  }
}

/** Parses "host:port", "[v6]:port" or "port"; returns a message on failure. */
export function parseHostPort(raw: string, defaultHost: string): HostPort | string {
  let host = defaultHost;
  let portText = raw;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(raw);
  if (v6) {
    host = v6[1] ?? defaultHost;
    portText = v6[2] ?? '';
  } else if (raw.includes(':')) {
    const at = raw.lastIndexOf(':');
    host = raw.slice(0, at);
    portText = raw.slice(at + 1);
    if (host === '') return 'host is empty';
  }
  if (!/^\d+$/.test(portText)) return `port ${JSON.stringify(portText)} is not a number`;
  const portNumber = Number(portText);
  if (portNumber < 0 || portNumber > 65535) return `port ${portNumber} is out of range`;
  return { host, port: portNumber };
}

/** The variable names a table reads. */
export function settingNames(table: SettingsTable): string[] {
  return Object.values(table).map((row) => row.name);
}

/** A WEFT_* variable no component reads, and the known name it most likely meant. */
export interface UnknownSetting {
  readonly name: string;
  readonly suggestion: string | undefined;
}

/**
 * The WEFT_* names in `env` that are not in `known`, each with the nearest known name when one is
 * close. Warned about, not refused: the chart or the injector may set variables for another
 * component, so `known` should be every component's names, not only the reader's own.
 */
export function unknownSettings(env: Readonly<Record<string, string | undefined>>, known: ReadonlySet<string>): UnknownSetting[] {
  const out: UnknownSetting[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('WEFT_') || known.has(name)) continue;
    out.push({ name, suggestion: nearestName(name, known) });
  }
  return out;
}

/** The warning line for an unknown variable. */
export function describeUnknownSetting(u: UnknownSetting): string {
  return `${u.name} is not a weft setting and is ignored${u.suggestion === undefined ? '' : `; did you mean ${u.suggestion}?`}`;
}

/** The known name closest to `name`, if it is close enough to be a slip (a few edits, a swap). */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  // A third of the part after WEFT_: catches typos and a dropped word, not unrelated names.
  const limit = Math.max(2, Math.floor((name.length - 'WEFT_'.length) / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(name, candidate);
    if (d < bestDistance || (d === bestDistance && best !== undefined && candidate < best)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The markdown table of a settings table: variable, type, default, required, meaning. */
export function renderSettingsTable(table: SettingsTable): string {
  const lines = ['| variable | type | default | required | meaning |', '|---|---|---|---|---|'];
  for (const row of Object.values(table)) {
    const named = row.flag === undefined ? `\`${row.name}\`` : `\`${row.flag}\` (\`${row.name}\`)`;
    const variable = row.mode === undefined ? named : `${named} (${row.mode} mode)`;
    const required = row.required === true ? 'yes' : typeof row.required === 'string' ? `in ${row.required} mode` : 'no';
    lines.push(`| ${variable} | ${row.type.label} | ${defaultCell(row)} | ${required} | ${row.doc.replaceAll('|', '\\|')} |`);
  }
  return lines.join('\n');
}

// The default as the docs show it: the row's own words, "-" for a required value, "(none)" for nothing.
function defaultCell(row: Setting<unknown>): string {
  if (row.defaultDoc !== undefined) return row.defaultDoc;
  if (row.required === true) return '-';
  const text = row.type.format(row.default);
  if (text === '') return '(none)';
  return text.startsWith('(') ? text : `\`${text}\``;
}
