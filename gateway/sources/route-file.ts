// Hot reload of the route file: watches its directory (editors and `mv` replace the file), waits
// for writes to settle, builds the new state off to the side and hands it over only when it is
// valid. A bad file is refused with every problem logged; the running state stays.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { realTimers, type Timers } from '../../lib/timers.js';
import { WatchedFile } from '../../lib/watched-file.js';
import { buildState, type GatewayState } from '../state.js';
import type { GatewayMetrics } from '../metrics.js';

/**
 * Turns configuration text into applied generations: builds off to the side, applies only a
 * valid whole, counts and logs each outcome. Shared by the route file and the API-server watch.
 */
export class StateLoader {
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #apply: (state: GatewayState) => void;
  #generation = 0;
  #lastHash = '';

  constructor(opts: { log: Logger; metrics: GatewayMetrics; apply: (state: GatewayState) => void }) {
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#apply = opts.apply;
  }

  /** Applies `text` (from `source`) and returns undefined, or returns every problem and applies nothing. */
  load(text: string, source: string): string[] | undefined {
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.#lastHash) return undefined;
    const result = buildState(text, source, this.#generation + 1, (p) => readFileSync(p, 'utf8'));
    if ('problems' in result) {
      this.#metrics.reloads.inc({ result: 'rejected' });
      return [...result.problems];
    }
    this.#generation += 1;
    this.#lastHash = hash;
    this.#apply(result.state);
    this.#metrics.reloads.inc({ result: 'applied' });
    this.#metrics.generation.set(this.#generation);
    this.#log.info(
      { source, generation: this.#generation, httpRules: result.state.table.size('HTTP'), httpsRules: result.state.table.size('HTTPS'), policies: result.state.policies.size },
      'routes loaded',
    );
    for (const w of result.state.warnings) this.#log.warn({ source, generation: this.#generation }, w);
    return undefined;
  }

  /** Generation in force (0 before the first valid load). */
  get generation(): number {
    return this.#generation;
  }
}

/** Problems of a refused route file, carried from apply to the log line. */
class RouteFileRefused extends WeftError {
  readonly problems: readonly string[];
  constructor(path: string, problems: readonly string[]) {
    super('WEFT_ERR_GATEWAY_FILE', `${path} is invalid:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** Loads and watches one route file. */
export class RouteFile {
  readonly #path: string;
  readonly #log: Logger;
  readonly #watched: WatchedFile<string>;

  constructor(path: string, opts: { log: Logger; loader: StateLoader; debounceMs: number; timers?: Timers }) {
    this.#path = path;
    this.#log = opts.log;
    this.#watched = new WatchedFile<string>({
      paths: [path],
      read: () => readFile(path, 'utf8'),
      same: (a, b) => a === b,
      apply: (text) => {
        const problems = opts.loader.load(text, path);
        if (problems) throw new RouteFileRefused(path, problems);
      },
      onError: (err, stage) => {
        if (stage === 'read') {
          // Between an unlink and the rename the file may be briefly absent; the next event reloads.
          this.#log.warn({ code: 'WEFT_ERR_GATEWAY_FILE', file: path, err: (err as Error).message }, 'route file unreadable; keeping the running routes');
          return;
        }
        const problems = err instanceof RouteFileRefused ? err.problems : [(err as Error).message];
        this.#log.error({ code: 'WEFT_ERR_GATEWAY_FILE', file: path, problems }, `route file refused; the running routes stay:\n  - ${problems.join('\n  - ')}`);
      },
      onWatchError: (err) => this.#log.warn({ file: path, err: err.message }, 'route file watch failed'),
      timers: opts.timers ?? realTimers,
      debounceMs: opts.debounceMs,
    });
  }

  /** Loads the file (throws WEFT_ERR_GATEWAY_FILE with every problem when it is bad) and starts watching. */
  async start(): Promise<void> {
    await this.#watched.load().catch((err: Error) => {
      if (err instanceof RouteFileRefused) throw err;
      throw new WeftError('WEFT_ERR_GATEWAY_FILE', `cannot read ${this.#path}: ${err.message}`);
    });
    this.#watched.start();
  }

  close(): void {
    this.#watched.close();
  }
}
