// What `weft dashboard` shows, gathered from the sidecars: a history of scrapes (rates over a
// window, a time series per service) and a service's drill-down (the callers' view of its
// endpoints, its recent failures). The scrape loop runs on injected timers.
import { readAdmin, scrapeAll } from './admin-client.js';
import { goldenMetrics, type MeshStat, type Scrape } from './golden.js';
import type { MeshNames, ProxyTarget } from './targets.js';
import type { TapEvent } from '../../proxy/tap/tap-hub.js';
import type { Timers, TimerHandle } from '../../lib/timers.js';

/** One point of a service's time series (the interval between two scrapes). */
export interface SeriesPoint {
  /** Unix seconds at the end of the interval. */
  readonly t: number;
  readonly rps: number;
  readonly successRate: number | null;
  readonly p99Ms: number | null;
}

/** The page's main view. */
export interface DashboardView {
  readonly namespace: string;
  /** Unix ms of the newest scrape. */
  readonly updated: number;
  /** Sidecars that did not answer the newest scrape. */
  readonly errors: readonly string[];
  readonly stat: MeshStat;
  readonly series: Readonly<Record<string, readonly SeriesPoint[]>>;
}

/** One endpoint of a service as one caller's balancer sees it. */
export interface EndpointView {
  readonly caller: string;
  readonly address: string;
  readonly pod: string;
  readonly ready: boolean;
  readonly state: string;
  readonly latencyMs: number | null;
  readonly ejected: boolean;
  readonly outstanding: number;
  readonly requests: number;
  readonly failures: number;
}

/** A service's drill-down. */
export interface ServiceView {
  readonly service: string;
  readonly endpoints: readonly EndpointView[];
  readonly failures: readonly (TapEvent & { readonly pod: string })[];
}

interface Taken {
  readonly ms: number;
  readonly scrapes: readonly Scrape[];
}

/** Scrapes the sidecars every `refreshMs` and keeps `windowMs` of history. */
export class DashboardData {
  readonly #names: MeshNames;
  readonly #targets: readonly ProxyTarget[];
  readonly #timers: Timers;
  readonly #refreshMs: number;
  readonly #windowMs: number;
  #history: Taken[] = [];
  #errors: string[] = [];
  readonly #series = new Map<string, SeriesPoint[]>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(opts: { names: MeshNames; targets: readonly ProxyTarget[]; timers: Timers; refreshMs: number; windowMs: number }) {
    this.#names = opts.names;
    this.#targets = opts.targets;
    this.#timers = opts.timers;
    this.#refreshMs = opts.refreshMs;
    this.#windowMs = opts.windowMs;
  }

  /** Takes the first scrape, then keeps scraping until closed; resolves with the first scrape's errors. */
  async start(): Promise<readonly string[]> {
    await this.#scrape();
    this.#schedule();
    return this.#errors;
  }

  /** Stops the scrape loop. */
  close(): void {
    this.#closed = true;
    this.#timers.clearTimeout(this.#timer);
  }

  /** The main view: figures over the window held (oldest scrape to newest). */
  view(): DashboardView {
    const newest = this.#history.at(-1);
    const oldest = this.#history[0];
    const windowSeconds = newest && oldest && newest !== oldest ? (newest.ms - oldest.ms) / 1000 : 0;
    const stat = goldenMetrics(this.#names, newest?.scrapes ?? [], windowSeconds > 0 ? oldest?.scrapes : undefined, windowSeconds);
    return { namespace: this.#names.namespace, updated: newest?.ms ?? 0, errors: this.#errors, stat, series: Object.fromEntries(this.#series) };
  }

  /** A service's drill-down: every caller's view of its endpoints, and its recent failures. */
  async service(name: string): Promise<ServiceView> {
    const key = new RegExp(`^[^/]+/${name.replace(/[^a-z0-9-]/g, '')}:`);
    const endpoints: EndpointView[] = [];
    const failures: (TapEvent & { pod: string })[] = [];
    await Promise.all(
      this.#targets.map(async (target) => {
        const debug = JSON.parse(await readAdmin(target, '/debug/endpoints').catch(() => '{}')) as { services?: DebugService[] };
        for (const s of debug.services ?? []) {
          if (!key.test(s.service)) continue;
          for (const e of s.endpoints) {
            endpoints.push({ caller: target.pod, address: `${e.address}:${e.port}`, pod: e.pod ?? '', ready: e.ready, state: s.state, latencyMs: e.latencyMs ?? null, ejected: e.ejected ?? false, outstanding: e.outstanding, requests: e.requests, failures: e.failures ?? 0 });
          }
        }
        const recent = JSON.parse(await readAdmin(target, '/debug/recent-failures').catch(() => '{}')) as { failures?: TapEvent[] };
        for (const f of recent.failures ?? []) {
          const mine = f.direction === 'inbound' ? target.service === name : key.test(f.service);
          if (mine) failures.push({ ...f, pod: target.pod });
        }
      }),
    );
    endpoints.sort((a, b) => `${a.caller} ${a.address}`.localeCompare(`${b.caller} ${b.address}`));
    failures.sort((a, b) => b.time - a.time);
    return { service: name, endpoints, failures: failures.slice(0, 50) };
  }

  async #scrape(): Promise<void> {
    const { scrapes, errors } = await scrapeAll(this.#targets);
    const ms = this.#timers.now();
    const previous = this.#history.at(-1);
    this.#errors = errors;
    this.#history.push({ ms, scrapes });
    while (this.#history.length > 2 && ms - (this.#history[1]?.ms ?? ms) >= this.#windowMs) this.#history.shift();
    if (previous) {
      const step = goldenMetrics(this.#names, scrapes, previous.scrapes, (ms - previous.ms) / 1000);
      // A service seen once keeps a point per step, 0 rps when idle, so its line stays continuous.
      const active = new Map(step.services.map((s) => [s.service, s]));
      for (const name of new Set([...this.#series.keys(), ...active.keys()])) {
        const s = active.get(name);
        const points = this.#series.get(name) ?? [];
        points.push({ t: ms / 1000, rps: s?.rps ?? 0, successRate: s?.successRate ?? null, p99Ms: s?.p99Ms ?? null });
        if (points.length > 120) points.shift();
        this.#series.set(name, points);
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#scrape().then(
        () => this.#schedule(),
        () => this.#schedule(),
      );
    }, this.#refreshMs);
  }
}

interface DebugService {
  readonly service: string;
  readonly state: string;
  readonly endpoints: readonly { address: string; port: number; pod?: string; ready: boolean; outstanding: number; requests: number; latencyMs?: number; ejected?: boolean; failures?: number }[];
}
