// prom-client's metric classes, loaded from their own files rather than the package's index. The
// index also loads every default metric, one of which requires @opentelemetry/api for exemplars
// weft never records: about 8 MB of a sidecar's idle RSS (docs/metrics.md). The objects are the
// very ones the index exports (one module cache), so a registry from either works with both.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const load = createRequire(import.meta.url);

/** prom-client's Registry. */
export const Registry = load('prom-client/lib/registry.js') as typeof PromClient.Registry;
/** A prom-client registry. */
export type Registry = PromClient.Registry;
/** prom-client's Counter. */
export const Counter = load('prom-client/lib/counter.js') as typeof PromClient.Counter;
/** A prom-client counter. */
export type Counter<T extends string = string> = PromClient.Counter<T>;
/** prom-client's Gauge. */
export const Gauge = load('prom-client/lib/gauge.js') as typeof PromClient.Gauge;
/** A prom-client gauge. */
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
/** prom-client's Histogram. */
export const Histogram = load('prom-client/lib/histogram.js') as typeof PromClient.Histogram;
/** A prom-client histogram. */
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
