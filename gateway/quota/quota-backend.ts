// Builds the plan quota backend the settings ask for: the local counter, or a Redis client (one
// connection, no offline queue, so a request never waits for a Redis that is down) with the local
// counter as its fallback, and the metrics that say which one counted.
import { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../lib/logger.js';
import type { Timers } from '../../lib/timers.js';
import type { QuotaBackend } from './quota-step.js';
import type { QuotaSettings } from './quota-settings.js';
import { RedisQuota } from './redis-quota.js';
import { SlidingWindowQuota } from './sliding-window.js';
import { usageReport } from './usage.js';
import type { ServerResponse } from 'node:http';
import { NO_CONSUMERS, type ConsumerDirectory } from '../consumers/directory.js';

/** A backend and how to let go of it at shutdown. */
export interface BuiltQuota {
  readonly backend: QuotaBackend;
  /** The local counter (the backend itself, or Redis's fallback). */
  readonly local: SlidingWindowQuota;
  /** The Redis backend, when configured (usage reports read it). */
  readonly redis: RedisQuota | undefined;
  /** The clock local counts are read with. */
  readonly now: () => number;
  close(): Promise<void>;
}

/** Builds the backend of `settings`; metrics go to `registry`. */
export function buildQuotaBackend(settings: QuotaSettings, deps: { readonly registry: Registry; readonly log: Logger; readonly timers: Timers }): BuiltQuota {
  const local = new SlidingWindowQuota();
  if (settings.backend === 'local') {
    return { backend: { kind: 'local', take: (k, w, now) => local.take(k, w, now) }, local, redis: undefined, now: () => deps.timers.now(), close: () => Promise.resolve() };
  }
  const client = new Redis(settings.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnects forever, at most a second apart: recovery needs no restart.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    connectTimeout: 2000,
  });
  // Connection errors are expected while Redis is away; each request's outcome is what is logged.
  client.on('error', () => undefined);
  const fallbacks = new Counter({
    name: 'weft_gateway_quota_fallback_total',
    help: 'Plan quota requests Redis could not count, by mode (open: counted by this replica instead; closed: refused 503)',
    labelNames: ['mode'] as const,
    registers: [deps.registry],
  });
  const up = new Gauge({ name: 'weft_gateway_quota_redis_up', help: '1 while the last plan quota call to Redis answered', registers: [deps.registry] });
  const redis = new RedisQuota({ redis: client, fallback: local, failClosed: settings.failClosed, log: deps.log, fallbacks, up, timeoutMs: settings.redisTimeoutMs, timers: deps.timers });
  return {
    backend: { kind: 'redis', take: (k, w, now) => redis.take(k, w, now) },
    local,
    redis,
    now: () => deps.timers.now(),
    close: async () => {
      client.disconnect();
      await Promise.resolve();
    },
  };
}

/** Answers `/debug/usage` with the usage report of the consumers in force (JSON). */
export function serveUsage(res: ServerResponse, state: { readonly consumers: ConsumerDirectory } | undefined, quota: BuiltQuota): void {
  const redis = quota.redis;
  usageReport(state?.consumers ?? NO_CONSUMERS, (k, w) => Promise.resolve(quota.local.peek(k, w, quota.now())), redis ? (k, w) => redis.peek(k, w) : undefined).then(
    (report) => {
      const body = `${JSON.stringify(report, null, 2)}\n`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    (err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`usage report failed: ${(err as Error).message}\n`);
    },
  );
}
