// Per-request series as plain counters of fixed shape (the proxy's and the gateway's): the hot path adds to numbers in
// rows it keeps, and prom-client sees them only at scrape time, as the same series it exported
// when it was called on every request (it re-hashed and re-validated the labels on each call).
import type { Metric } from 'prom-client';
import { Counter, type Registry } from '../../lib/metrics-client.js';

/** A label set, its keys in the order the series prints them. */
export type Labels = Readonly<Record<string, string>>;

/** One series of a counter: its labels, its running total and how much of it prom-client has. */
export interface CounterRow {
  readonly labels: Labels;
  value: number;
  published: number;
}

/** One series of a histogram: per-bucket counts (not cumulative; the last is +Inf), sum and count. */
export interface HistogramRow {
  readonly labels: Labels;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** A counter whose rows are plain objects, published to prom-client by its collect hook. */
export class PlainCounter {
  readonly #rows = new Map<string, CounterRow>();

  /** Registers `name` on `registry`; a scrape copies every row into it. */
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
    const rows = this.#rows;
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      // Runs only when /metrics is read: one inc per changed series (not one per request). Deltas,
      // so that the registry's resetMetrics() restarts the series at zero as prom-client does.
      collect(this: Counter) {
        for (const row of rows.values()) {
          if (row.value === row.published) continue;
          this.inc(row.labels, row.value - row.published);
          row.published = row.value;
        }
      },
    });
  }

  /** The row for `key`, created with `labels()` the first time (the key must name the labels). */
  row(key: string, labels: () => Labels): CounterRow {
    let row = this.#rows.get(key);
    if (row === undefined) {
      row = { labels: labels(), value: 0, published: 0 };
      this.#rows.set(key, row);
    }
    return row;
  }
}

/**
 * A histogram whose rows are plain objects, registered as a metric that prom-client's registry
 * reads at scrape time; it renders exactly what prom-client's Histogram renders.
 */
export class PlainHistogram {
  readonly #rows = new Map<string, HistogramRow>();
  readonly #bounds: readonly number[];
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  /** Registers `name` with `buckets` (upper bounds, ascending) on `registry`. */
  constructor(registry: Registry, name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = buckets;
    // The registry reads a metric through get()/getForPromString()/reset(), which this class has.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The row for `key`, created with `labels()` the first time (the key must name the labels). */
  row(key: string, labels: () => Labels): HistogramRow {
    let row = this.#rows.get(key);
    if (row === undefined) {
      row = { labels: labels(), buckets: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
      this.#rows.set(key, row);
    }
    return row;
  }

  /** Adds one observation to `row`. */
  observe(row: HistogramRow, value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] ?? Infinity)) i++;
    row.buckets[i] = (row.buckets[i] ?? 0) + 1;
    row.sum += value;
    row.count += 1;
  }

  /** The series in prom-client's exposition shape: buckets with `le` first, then the row's labels. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ScrapeValue[] }> {
    const values: ScrapeValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const row of this.#rows.values()) {
      let acc = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += row.buckets[i] ?? 0;
        values.push({ labels: { le: this.#bounds[i] ?? 0 }, sharedLabels: row.labels, value: acc, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: row.labels, value: row.count, metricName: bucketName, exemplar: null });
      values.push({ labels: {}, sharedLabels: row.labels, value: row.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: row.labels, value: row.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same values with each row's labels merged in after `le` (prom-client's JSON shape). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: JsonValue[] }> {
    const data = await this.getForPromString();
    const values = data.values.map((v): JsonValue => {
      const labels: Record<string, string | number> = {};
      for (const k in v.labels) labels[k] = v.labels[k] ?? '';
      for (const k in v.sharedLabels) labels[k] = v.sharedLabels[k] ?? '';
      return { value: v.value, metricName: v.metricName, exemplar: v.exemplar, labels };
    });
    return { name: data.name, help: data.help, type: data.type, values, aggregator: data.aggregator };
  }

  /** Forgets every series (the registry's resetMetrics()). */
  reset(): void {
    this.#rows.clear();
  }
}

/** One line of a scrape as prom-client's registry reads it. */
interface ScrapeValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: Labels;
  readonly value: number;
  readonly metricName: string;
  /** prom-client's shape: null on buckets (no exemplars kept), undefined on _sum and _count. */
  readonly exemplar: null | undefined;
}

/** One line in prom-client's JSON shape (labels merged). */
interface JsonValue {
  readonly value: number;
  readonly metricName: string;
  readonly exemplar: null | undefined;
  readonly labels: Readonly<Record<string, string | number>>;
}
