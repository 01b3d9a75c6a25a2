// Local mode's mesh routes: a watched YAML file of HTTPRoutes with Service parents, compiled for
// the outbound side. A bad version is refused with WEFT_ERR_ROUTES_FILE and the routes in force
// stay; a missing file means no routes.
import { readFile } from 'node:fs/promises';
import { WatchedFile } from '../../lib/watched-file.js';
import type { Logger } from '../../lib/logger.js';
import { realTimers, type Timers } from '../../lib/timers.js';
import { parseMeshRoutes } from './mesh-routes.js';
import { CompiledRoutes } from './route-decision.js';

/** The routes in force, replaced whole on every good version of the file. */
export class RoutesFile {
  readonly #watched: WatchedFile<string>;
  readonly #log: Logger;
  /** The compiled routes (empty until the file exists). */
  current: CompiledRoutes = new CompiledRoutes(new Map());

  constructor(path: string, namespace: string, log: Logger, timers: Timers = realTimers) {
    this.#log = log;
    this.#watched = new WatchedFile<string>({
      paths: [path],
      read: () =>
        readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        }),
      same: (a, b) => a === b,
      apply: (text) => {
        const table = parseMeshRoutes(text, path, namespace);
        this.current = new CompiledRoutes(table);
        this.#log.info({ services: table.size }, 'mesh routes loaded');
      },
      onError: (err) => this.#log.warn({ code: 'WEFT_ERR_ROUTES_FILE', err: (err as Error).message }, 'mesh routes file refused; the routes in force stay'),
      timers,
      debounceMs: 20,
    });
  }

  /** Loads the file (a bad first version throws WEFT_ERR_ROUTES_FILE) and starts watching it. */
  async start(): Promise<void> {
    await this.#watched.load();
    this.#watched.start();
  }

  /** Stops watching. */
  close(): void {
    this.#watched.close();
  }
}
