// Writes a log line whose fields the caller serialised itself, into the same destination and with
// the same head (level, time, bindings) and tail (msg) as the pino logger it was made from.
import { pino, type Logger } from 'pino';

/**
 * A string as a JSON string literal. Printable ASCII without `"` or `\` is quoted as it is; anything
 * else goes through JSON.stringify, so control characters, non-ASCII and lone surrogates come out
 * as JSON.stringify writes them (lone surrogates as `\udxxx` escapes: the line stays well-formed
 * UTF-8, where a raw lone surrogate would be replaced by U+FFFD on the way out).
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

// The logger's state this writer reads. pino exports these symbols for integrations
// (`pino.symbols`); what it keeps under them is the line's pre-built head, bindings and tail.
type PinoState = Record<symbol, unknown>;

interface Stream {
  write(line: string): unknown;
}

/** The numeric pino levels a raw line may be written at. */
export const RAW_LEVELS = { info: 30, warn: 40 } as const;

/** A writer of pre-serialised lines for one logger; see `RawLogLine.of`. */
export class RawLogLine {
  readonly #log: Logger;
  readonly #state: PinoState;
  readonly #stream: Stream;
  readonly #end: string;

  private constructor(log: Logger, state: PinoState, stream: Stream, end: string) {
    this.#log = log;
    this.#state = state;
    this.#stream = stream;
    this.#end = end;
  }

  /**
   * A writer for `log`, or undefined when the logger shapes its lines in a way this writer does not
   * reproduce (a log formatter, mixin, message prefix, write hook, another message key, a stream
   * that wants per-line metadata, or a serializer/redaction on one of `keys`): callers then log the
   * object through pino as before.
   */
  static of(log: Logger, keys: readonly string[]): RawLogLine | undefined {
    const s = pino.symbols;
    const state = log as unknown as PinoState;
    const formatters = state[s.formattersSym] as { log?: unknown } | undefined;
    const hooks = state[s.hooksSym] as { streamWrite?: unknown } | undefined;
    const serializers = (state[s.serializersSym] ?? {}) as Record<string, unknown>;
    const stringifiers = (state[s.stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
    const stream = state[s.streamSym] as (Stream & Record<symbol, unknown>) | undefined;
    const end = state[s.endSym];
    const lsCache = state[s.lsCacheSym] as Record<number, unknown> | undefined;
    if (formatters?.log !== undefined || state[s.mixinSym] || hooks?.streamWrite) return undefined;
    if (state[MSG_PREFIX_SYM] !== undefined || state[s.messageKeySym] !== 'msg') return undefined;
    if (!stream || typeof stream.write !== 'function' || stream[s.needsMetadataGsym] === true) return undefined;
    if (typeof end !== 'string' || typeof lsCache?.[RAW_LEVELS.info] !== 'string' || typeof lsCache[RAW_LEVELS.warn] !== 'string') return undefined;
    if (stringifiers[s.wildcardFirstSym] !== undefined) return undefined;
    for (const key of keys) if (serializers[key] !== undefined || stringifiers[key] !== undefined) return undefined;
    return new RawLogLine(log, state, stream, end);
  }

  /** Whether a line at `level` would be written (the logger's level may change at run time). */
  enabled(level: number): boolean {
    return this.#log.levelVal <= level;
  }

  /**
   * Writes `{"level":…,"time":…<bindings><fields>,"msg":<msgJson>}`: `fields` is `,"key":value…`
   * already serialised, `msgJson` the message as a JSON string literal.
   */
  write(level: number, fields: string, msgJson: string): void {
    const s = pino.symbols;
    const state = this.#state;
    const head = (state[s.lsCacheSym] as Record<number, string>)[level] ?? '';
    const time = (state[s.timeSym] as () => string)();
    this.#stream.write(head + time + (state[s.chindingsSym] as string) + fields + ',"msg":' + msgJson + this.#end);
  }
}

// pino keeps the message prefix under a symbol it does not list in `pino.symbols`; found by its
// description once, so a logger with a prefix falls back to pino's own path.
const MSG_PREFIX_SYM: symbol = Object.getOwnPropertySymbols(pino({ enabled: false }, { write: () => undefined })).find((sym) => sym.description === 'pino.msgPrefix') ?? Symbol('absent');
