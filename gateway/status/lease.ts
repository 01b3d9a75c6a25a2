// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: every
// renew period each replica reads the Lease; the holder renews it, and another replica takes it
// only when it has seen no renewal for the lease duration (by its own clock, so skew between
// nodes does not matter) or the holder released it on stop. Writes carry the resourceVersion read,
// so two replicas racing for one Lease cannot both win. Time is injected.
import type { Logger } from '../../lib/logger.js';
import type { TimerHandle, Timers } from '../../lib/timers.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../../lib/kube/client.js';

/** What a Lease object holds (the fields weft reads and writes). */
interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** Options of one replica's election. */
export interface LeaseOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** This replica's identity in holderIdentity (the pod name). */
  readonly identity: string;
  /** How long a holder's silence lasts before another replica may take the Lease. */
  readonly durationMs: number;
  readonly timers: Timers;
  readonly log: Logger;
  /** Called when this replica becomes the leader (true) or stops being it (false). */
  readonly onChange: (leader: boolean) => void;
}

// Kubernetes MicroTime: RFC 3339 with microseconds.
const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** One replica's side of the election. */
export class LeaderLease {
  readonly #o: LeaseOptions;
  #leader = false;
  #timer: TimerHandle | undefined;
  #stopped = false;
  /** The last Lease version seen and when this replica saw it change (its own clock). */
  #seen: { version: string; atMs: number } | undefined;
  /** When this replica last renewed as leader. */
  #renewedAtMs = 0;
  #round: Promise<void> = Promise.resolve();

  constructor(opts: LeaseOptions) {
    this.#o = opts;
  }

  /** True while this replica holds the Lease. */
  get leader(): boolean {
    return this.#leader;
  }

  /** How often the Lease is read and renewed: a third of its duration, as client-go's defaults (15 s / 10 s / 2 s) keep renewals well inside it. */
  get periodMs(): number {
    return Math.max(1, Math.floor(this.#o.durationMs / 3));
  }

  start(): void {
    this.#tick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#round = this.#attempt()
      .catch((err: unknown) => this.#o.log.warn({ lease: this.#path(), err: (err as Error).message }, 'status lease: cannot read or renew'))
      .then(() => {
        // A leader that could not renew for the whole duration must assume another replica took over.
        if (this.#leader && this.#o.timers.now() - this.#renewedAtMs >= this.#o.durationMs) this.#set(false);
        if (this.#stopped) return;
        this.#timer = this.#o.timers.setTimeout(() => this.#tick(), this.periodMs);
        this.#timer.unref();
      });
  }

  #path(name?: string): string {
    return resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: this.#o.namespace, ...(name === undefined ? {} : { name }) });
  }

  async #attempt(): Promise<void> {
    const now = this.#o.timers.now();
    let lease: LeaseObject;
    try {
      lease = await this.#o.client.request<LeaseObject>('GET', this.#path(this.#o.name));
    } catch (err) {
      if (!isKubeStatus(err, 404)) throw err;
      await this.#create(now);
      return;
    }
    const spec = lease.spec ?? {};
    const version = lease.metadata.resourceVersion ?? '';
    if (this.#seen?.version !== version) this.#seen = { version, atMs: now };
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.#o.durationMs / 1000)) * 1000;
    const mine = holder === this.#o.identity;
    const expired = holder === '' || now - (this.#seen?.atMs ?? now) >= durationMs;
    if (!mine && !expired) {
      this.#set(false);
      return;
    }
    const next: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#o.name, namespace: this.#o.namespace, resourceVersion: version },
      spec: {
        holderIdentity: this.#o.identity,
        leaseDurationSeconds: Math.ceil(this.#o.durationMs / 1000),
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      const written = await this.#o.client.request<LeaseObject>('PUT', this.#path(this.#o.name), next);
      this.#seen = { version: written.metadata.resourceVersion ?? '', atMs: now };
      this.#renewedAtMs = now;
      if (!mine) this.#o.log.info({ lease: this.#path(this.#o.name), previous: holder || undefined }, 'status lease acquired: this replica writes status');
      this.#set(true);
    } catch (err) {
      // Another replica wrote first (409): it is the leader for now.
      if (!isKubeStatus(err, 409)) throw err;
      this.#set(false);
    }
  }

  async #create(now: number): Promise<void> {
    const lease: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#o.name, namespace: this.#o.namespace },
      spec: { holderIdentity: this.#o.identity, leaseDurationSeconds: Math.ceil(this.#o.durationMs / 1000), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
    };
    try {
      const written = await this.#o.client.request<LeaseObject>('POST', this.#path(), lease);
      this.#seen = { version: written.metadata.resourceVersion ?? '', atMs: now };
      this.#renewedAtMs = now;
      this.#o.log.info({ lease: this.#path(this.#o.name) }, 'status lease created: this replica writes status');
      this.#set(true);
    } catch (err) {
      if (!isKubeStatus(err, 409)) throw err;
      this.#set(false);
    }
  }

  #set(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#o.onChange(leader);
  }

  /** Stops electing; a leader releases the Lease (empty holder) so another replica takes over at its next read. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.timers.clearTimeout(this.#timer);
    await this.#round;
    if (!this.#leader) return;
    this.#set(false);
    try {
      const lease = await this.#o.client.request<LeaseObject>('GET', this.#path(this.#o.name));
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      await this.#o.client.request('PUT', this.#path(this.#o.name), { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
    } catch (err) {
      this.#o.log.warn({ lease: this.#path(this.#o.name), err: (err as Error).message }, 'status lease: cannot release; another replica takes over when it expires');
    }
  }
}
