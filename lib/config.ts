// Parses a flat map of strings (process.env in production, a plain object in tests) into typed
// settings, collecting every problem so that a bad start lists them all at once.
import { WeftError } from './errors.js';

/** A host and port to listen on or dial. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Reads typed values out of a string map; call done() to throw every collected problem. */
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

  string(name: string, fallback: string): string {
    return this.#raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.#raw(name);
  }

  required(name: string): string {
    const value = this.#raw(name);
    if (value === undefined) {
      this.#problems.push(`${name} is required`);
      return '';
    }
    return value;
  }

  integer(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if (!/^-?\d+$/.test(raw)) {
      this.#problems.push(`${name}=${JSON.stringify(raw)} is not an integer`);
      return fallback;
    }
    const value = Number(raw);
    if (bounds.min !== undefined && value < bounds.min) {
      this.#problems.push(`${name}=${raw} is below the minimum ${bounds.min}`);
      return fallback;
    }
    if (bounds.max !== undefined && value > bounds.max) {
      this.#problems.push(`${name}=${raw} is above the maximum ${bounds.max}`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    this.#problems.push(`${name}=${JSON.stringify(raw)} is not true or false`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.#problems.push(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(', ')}`);
    return fallback;
  }

  /** host:port; a bare port means the fallback host. */
  hostPort(name: string, fallback: HostPort): HostPort {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const parsed = parseHostPort(raw, fallback.host);
    if (typeof parsed === 'string') {
      this.#problems.push(`${name}=${JSON.stringify(raw)}: ${parsed}`);
      return fallback;
    }
    return parsed;
  }

  /** Comma-separated list, empty entries dropped. */
  list(name: string): string[] {
    const raw = this.#raw(name);
    if (raw === undefined) return [];
    return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
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
  const port = Number(portText);
  if (port < 0 || port > 65535) return `port ${port} is out of range`;
  return { host, port };
}
