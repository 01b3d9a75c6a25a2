// Composition of status writing in kubernetes mode: one Lease per gateway Deployment elects the
// replica that writes; the writer follows each build and the leadership.
import { hostname } from 'node:os';
import type { Logger } from '../../lib/logger.js';
import type { Timers } from '../../lib/timers.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../../lib/kube/client.js';
import type { ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import type { StatusSource } from './gateway-status.js';
import { LeaderLease } from './lease.js';
import type { StatusConfig } from './status-settings.js';
import { StatusWriter } from './status-writer.js';

/** Status writing as the gateway runs it. */
export interface StatusWriting {
  /** Hands a new build to the writer. */
  update(source: StatusSource): void;
  /** True while this replica holds the Lease. */
  readonly leader: boolean;
  /** Stops electing and writing; a leader releases the Lease. */
  stop(): Promise<void>;
}

/** Starts electing and, while leader, writing status. */
export function startStatusWriting(opts: { client: KubeClient; config: StatusConfig; namespace: string; podName: string; selfService: ServiceRef; timers: Timers; log: Logger }): StatusWriting {
  const { client, config, log } = opts;
  const addresses = async (): Promise<readonly string[]> => {
    if (config.addresses.length > 0) return config.addresses;
    try {
      const svc = await client.request<{ spec?: { clusterIP?: string; clusterIPs?: string[] }; status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } }>(
        'GET',
        resourcePath({ group: '', version: 'v1', resource: 'services', namespace: opts.selfService.namespace, name: opts.selfService.name }),
      );
      const ingress = (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : i.hostname ? [i.hostname] : []));
      if (ingress.length > 0) return ingress;
      return (svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : [])).filter((ip) => ip !== 'None');
    } catch (err) {
      if (isKubeStatus(err, 404)) return [];
      throw err;
    }
  };
  // The writer asks the Lease only when it writes, after both exist.
  const writer: StatusWriter = new StatusWriter({ client, timers: opts.timers, log, leader: () => lease.leader, addresses, retryMs: Math.max(1, Math.floor(config.leaseMs / 3)) });
  const lease = new LeaderLease({
    client,
    namespace: opts.namespace,
    name: config.lease,
    identity: opts.podName || hostname(),
    durationMs: config.leaseMs,
    timers: opts.timers,
    log,
    onChange: (leader) => writer.leaderChanged(leader),
  });
  lease.start();
  return {
    update: (source) => writer.update(source),
    get leader() {
      return lease.leader;
    },
    stop: async () => {
      await lease.stop();
      await writer.stop();
    },
  };
}
