// Hot reload of the route file: watches its directory (editors and `mv` replace the file), waits
// for writes to settle, builds the new state off to the side and hands it over. Objects are judged
// one at a time: a bad one is left out alone (its last accepted version keeps serving) with its
// reasons; only a file that cannot be read as objects at all is refused whole.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { realTimers, type Timers } from '../../lib/timers.js';
import { WatchedFile } from '../../lib/watched-file.js';
import { buildState, type GatewayState } from '../state.js';
import type { GatewayMetrics } from '../metrics.js';
import { parseDocuments, readResources, type ParsedResources, type ResourceSet } from '../routes/resources.js';
import type { StatusSource } from '../status/gateway-status.js';
import { objectLabel, type ObjectCondition } from '../routes/conditions.js';
import { ObjectAdmission, type RawObject } from './object-admission.js';

/**
 * Turns route objects (a file's text or the API server's objects) into applied generations:
 * builds off to the side, applies only a valid whole, counts and logs each outcome. Shared by the
 * route file and the API-server watch.
 */
export class StateLoader {
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #apply: (state: GatewayState) => void;
  readonly #onStatus: ((source: StatusSource) => void) | undefined;
  readonly #serviceElsewhere: StatusSource['serviceElsewhere'];
  #statusSource: StatusSource | undefined;
  #generation = 0;
  #lastHash = '';
  readonly #admission = new ObjectAdmission();

  /** `serviceElsewhere`: which Services exist beyond the objects read (see StatusInput); absent: unknown. */
  constructor(opts: { log: Logger; metrics: GatewayMetrics; apply: (state: GatewayState) => void; onStatus?: (source: StatusSource) => void; serviceElsewhere?: StatusSource['serviceElsewhere'] }) {
    this.#serviceElsewhere = opts.serviceElsewhere;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#apply = opts.apply;
    this.#onStatus = opts.onStatus;
  }

  /** What the status of the objects in force is computed from (undefined before the first load). */
  get statusSource(): StatusSource | undefined {
    return this.#statusSource;
  }

  /**
   * Applies the route file `text` (from `source`) per object, as loadCluster does, and returns
   * undefined; a file with a problem that belongs to no object (a YAML syntax error, a document
   * without kind or name) is refused whole: every problem is returned and nothing applied.
   */
  load(text: string, source: string): string[] | undefined {
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.#lastHash) return undefined;
    const { objects, syntaxErrors } = parseDocuments(text);
    const parsed = readResources(objects, source, { syntaxErrors });
    if (parsed.fileProblems.length > 0) {
      this.#metrics.reloads.inc({ result: 'rejected' });
      return [...parsed.problems];
    }
    this.#perObject(objects as RawObject[], source, hash);
    return undefined;
  }

  /** As load, for plain objects (the API server's), read without a detour through text. */
  loadObjects(objects: readonly unknown[], source: string): string[] | undefined {
    return this.#load(JSON.stringify(objects), source, () => readResources(objects, source));
  }

  /**
   * Applies the API server's objects per object: each object that cannot be used is left out
   * alone (its last accepted version keeps serving, if any), its reasons logged once per object
   * version and kept in the state's conditions; everything else is applied.
   */
  loadCluster(objects: readonly RawObject[], source: string): void {
    const hash = createHash('sha256').update(JSON.stringify(objects)).digest('hex');
    if (hash === this.#lastHash) return;
    this.#perObject(objects, source, hash);
  }

  #perObject(objects: readonly RawObject[], source: string, hash: string): void {
    const readText = (p: string): string => readFileSync(p, 'utf8');
    let resources: ResourceSet | undefined;
    const build = (set: readonly RawObject[]): GatewayState => {
      const parsed = readResources(set, source);
      resources = parsed.resources;
      const result = buildState(parsed, source, this.#generation + 1, readText, { perObject: true });
      // Per object, a build always gives a state; the guard keeps the types honest.
      if ('problems' in result) throw new Error(`cluster objects refused: ${result.problems.join('; ')}`);
      return result.state;
    };
    let set: readonly RawObject[] = objects;
    let state = build(set);
    const rejected = state.conditions.filter((c) => c.type === 'Rejected');
    const swap = this.#admission.substitute(objects, rejected);
    let replaced: ReadonlySet<string> = new Set();
    if (swap) {
      set = swap.objects;
      replaced = swap.replaced;
      state = build(set);
    }
    const stillBad = new Set(state.conditions.filter((c) => c.type === 'Rejected').map(objectLabel));
    const conditions: ObjectCondition[] = [
      ...rejected.map((c) => (replaced.has(objectLabel(c)) && !stillBad.has(objectLabel(c)) ? { ...c, servingPrevious: true } : c)),
      ...state.conditions.filter((c) => c.type !== 'Rejected'),
    ];
    state = { ...state, conditions };
    this.#admission.remember(objects, rejected);
    for (const c of this.#admission.fresh(state.conditions)) {
      const what = c.type === 'Rejected' ? (c.servingPrevious ? 'rejected; its previous version keeps serving' : 'rejected; it is not served') : 'served in part';
      this.#log.warn({ code: 'WEFT_ERR_GATEWAY_FILE', source, object: objectLabel(c), generation: c.generation, reasons: c.reasons }, `${objectLabel(c)} ${what}:\n  - ${c.reasons.join('\n  - ')}`);
    }
    this.#lastHash = hash;
    this.#commit(state, source, this.#admission.freshWarnings(state.warnings));
    // Status is judged on what serves (`resources`) and on the versions as written (`objects`).
    if (resources) {
      this.#statusSource = { resources, conditions: state.conditions, objects, ...(this.#serviceElsewhere ? { serviceElsewhere: this.#serviceElsewhere } : {}) };
      this.#onStatus?.(this.#statusSource);
    }
  }

  // `identity` is what "unchanged" is judged by: the same input is not built twice.
  #load(identity: string, source: string, read: () => ParsedResources): string[] | undefined {
    const hash = createHash('sha256').update(identity).digest('hex');
    if (hash === this.#lastHash) return undefined;
    const result = buildState(read(), source, this.#generation + 1, (p) => readFileSync(p, 'utf8'));
    if ('problems' in result) {
      this.#metrics.reloads.inc({ result: 'rejected' });
      return [...result.problems];
    }
    this.#lastHash = hash;
    this.#commit(result.state, source, result.state.warnings);
    return undefined;
  }

  #commit(state: GatewayState, source: string, warnings: readonly string[]): void {
    this.#generation += 1;
    this.#apply(state);
    this.#metrics.reloads.inc({ result: 'applied' });
    this.#metrics.generation.set(this.#generation);
    const rejected = state.conditions.filter((c) => c.type === 'Rejected').length;
    this.#log.info(
      { source, generation: this.#generation, httpRules: state.table.size('HTTP'), httpsRules: state.table.size('HTTPS'), policies: state.policies.size, rejected, degraded: state.conditions.length - rejected },
      'routes loaded',
    );
    for (const w of warnings) this.#log.warn({ source, generation: this.#generation }, w);
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
