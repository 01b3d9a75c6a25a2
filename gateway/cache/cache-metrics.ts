// The response cache's Prometheus metrics: read from the stores' plain counts at scrape time,
// so the request path only increments numbers.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ResponseCaches } from './cache-policy.js';

/** Registers weft_gateway_cache_* on `registry`, labelled by CachePolicy ("CachePolicy ns/name"). */
export function registerCacheMetrics(registry: Registry, caches: ResponseCaches): void {
  new Counter({
    name: 'weft_gateway_cache_requests_total',
    help: 'GET and HEAD requests on cached routes, by CachePolicy and result (hit: answered from the store; miss: the backend was asked, stale and forced checks included; bypass: Redis could not answer)',
    labelNames: ['policy', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of caches.describe()) {
        this.inc({ policy: s.policy, result: 'hit' }, s.hits);
        this.inc({ policy: s.policy, result: 'miss' }, s.misses);
        if (s.backend === 'redis') this.inc({ policy: s.policy, result: 'bypass' }, s.bypasses);
      }
    },
  });
  new Counter({
    name: 'weft_gateway_cache_evictions_total',
    help: 'Stored responses dropped by the byte cap, by CachePolicy',
    labelNames: ['policy'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of caches.describe()) this.inc({ policy: s.policy }, s.evictions);
    },
  });
  new Gauge({
    name: 'weft_gateway_cache_bytes',
    help: 'Bytes charged to a CachePolicy store (bodies, headers and keys)',
    labelNames: ['policy'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of caches.describe()) this.set({ policy: s.policy }, s.bytes);
    },
  });
}
