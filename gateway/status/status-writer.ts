// Writes the computed Gateway API status through the status subresource (PUT .../status), only
// while this replica holds the status Lease: GatewayClass `weft` Accepted, each weft Gateway's
// status, and weft's entries in each HTTPRoute's status.parents (other controllers' entries are
// kept). A condition keeps its lastTransitionTime while its status stays; an object whose status
// would not change is not written. Conflicts and failures are retried on the next round.
import type { Logger } from '../../lib/logger.js';
import type { TimerHandle, Timers } from '../../lib/timers.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../../lib/kube/client.js';
import { GATEWAY_API_GROUP, WEFT_CLASS } from '../routes/resources.js';
import { computeStatuses, WEFT_CONTROLLER, type ObjectStatus, type StatusCondition, type StatusSource } from './gateway-status.js';

/** Options of the writer. */
export interface StatusWriterOptions {
  readonly client: KubeClient;
  readonly timers: Timers;
  readonly log: Logger;
  /** Whether this replica holds the Lease now. */
  readonly leader: () => boolean;
  /** The Gateways' addresses (status.addresses), read at each round. */
  readonly addresses: () => Promise<readonly string[]>;
  /** Wait before retrying a round that failed. */
  readonly retryMs: number;
}

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> };
type Cond = StatusCondition & { lastTransitionTime?: string };

// Each path spelled out, so the RBAC test's scanner sees every resource and subresource written.
function objectPaths(s: ObjectStatus): { main: string; status: string } {
  const at = { group: GATEWAY_API_GROUP, version: 'v1', namespace: s.namespace, name: s.name };
  if (s.kind === 'Gateway') return { main: resourcePath({ ...at, resource: 'gateways' }), status: resourcePath({ ...at, resource: 'gateways', subresource: 'status' }) };
  if (s.kind === 'GRPCRoute') return { main: resourcePath({ ...at, resource: 'grpcroutes' }), status: resourcePath({ ...at, resource: 'grpcroutes', subresource: 'status' }) };
  return { main: resourcePath({ ...at, resource: 'httproutes' }), status: resourcePath({ ...at, resource: 'httproutes', subresource: 'status' }) };
}

/** Keeps the cluster's status in step with the last build, while leader. */
export class StatusWriter {
  readonly #o: StatusWriterOptions;
  #source: StatusSource | undefined;
  /** What this replica last wrote (or found already written) per object: skips unchanged ones. */
  readonly #written = new Map<string, string>();
  #round: Promise<void> = Promise.resolve();
  #retry: TimerHandle | undefined;
  #stopped = false;
  /** Statuses written, for tests and /debug: incremented per PUT that changed an object. */
  writes = 0;

  constructor(opts: StatusWriterOptions) {
    this.#o = opts;
  }

  /** A new build: write what changed (when leader). */
  update(source: StatusSource): void {
    this.#source = source;
    this.#kick();
  }

  /** Leadership changed: a new leader re-reads every object, as another replica may have written meanwhile. */
  leaderChanged(leader: boolean): void {
    this.#written.clear();
    if (leader) this.#kick();
  }

  /** Resolves when the rounds started so far are done. */
  settled(): Promise<void> {
    return this.#round;
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#o.timers.clearTimeout(this.#retry);
    return this.#round;
  }

  #kick(): void {
    this.#round = this.#round.then(() => this.#writeAll()).catch((err: unknown) => {
      this.#o.log.warn({ err: (err as Error).message }, 'status not written; retrying');
      this.#written.clear();
      this.#o.timers.clearTimeout(this.#retry);
      if (this.#stopped) return;
      this.#retry = this.#o.timers.setTimeout(() => this.#kick(), this.#o.retryMs);
      this.#retry.unref();
    });
  }

  async #writeAll(): Promise<void> {
    const source = this.#source;
    if (this.#stopped || !source || !this.#o.leader()) return;
    await this.#gatewayClass();
    const statuses = computeStatuses({ ...source, addresses: await this.#o.addresses() });
    for (const s of statuses) {
      if (!this.#o.leader()) return;
      const key = `${s.kind} ${s.namespace}/${s.name}`;
      const wanted = JSON.stringify([s.generation, s.status]);
      if (this.#written.get(key) === wanted) continue;
      await this.#writeOne(s);
      this.#written.set(key, wanted);
    }
  }

  async #gatewayClass(): Promise<void> {
    if (this.#written.has('GatewayClass')) return;
    const path = resourcePath({ group: GATEWAY_API_GROUP, version: 'v1', resource: 'gatewayclasses', name: WEFT_CLASS });
    const statusPath = resourcePath({ group: GATEWAY_API_GROUP, version: 'v1', resource: 'gatewayclasses', subresource: 'status', name: WEFT_CLASS });
    const gc = await this.#get(path);
    const spec = (gc?.spec ?? {}) as Record<string, unknown>;
    if (gc && spec.controllerName === WEFT_CONTROLLER) {
      const gen = typeof gc.metadata.generation === 'number' ? gc.metadata.generation : undefined;
      const accepted: StatusCondition = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'weft serves this class', ...(gen === undefined ? {} : { observedGeneration: gen }) };
      const old = ((gc.status ?? {}) as { conditions?: Cond[] }).conditions ?? [];
      const status = { ...(gc.status as Record<string, unknown> | undefined), conditions: this.#stamp([accepted], old) };
      if (JSON.stringify(status) !== JSON.stringify(gc.status)) {
        await this.#o.client.request('PUT', statusPath, { ...gc, status });
        this.writes += 1;
      }
    }
    this.#written.set('GatewayClass', 'done');
  }

  async #writeOne(s: ObjectStatus): Promise<void> {
    const paths = objectPaths(s);
    const current = await this.#get(paths.main);
    if (!current) return; // deleted since the build
    // The status is judged for the version read; a newer one gets its own round.
    if (s.generation !== undefined && current.metadata.generation !== s.generation) return;
    const old = (current.status ?? {}) as Record<string, unknown>;
    const status = s.kind === 'Gateway' ? this.#gatewayStatus(s, old) : this.#routeStatus(s, old);
    if (JSON.stringify(status) === JSON.stringify(current.status)) return;
    try {
      await this.#o.client.request('PUT', paths.status, { ...current, status });
      this.writes += 1;
    } catch (err) {
      // The object changed between the read and the write: its new version brings a new build.
      if (!isKubeStatus(err, 409)) throw err;
    }
  }

  #gatewayStatus(s: ObjectStatus, old: Record<string, unknown>): Record<string, unknown> {
    const oldListeners = (old.listeners ?? []) as { name?: string; conditions?: Cond[] }[];
    const listeners = ((s.status.listeners ?? []) as { name: string; conditions: StatusCondition[] }[]).map((l) => ({
      ...l,
      conditions: this.#stamp(l.conditions, oldListeners.find((o) => o.name === l.name)?.conditions ?? []),
    }));
    return { ...s.status, conditions: this.#stamp((s.status.conditions ?? []) as StatusCondition[], (old.conditions ?? []) as Cond[]), listeners };
  }

  #routeStatus(s: ObjectStatus, old: Record<string, unknown>): Record<string, unknown> {
    const oldParents = (old.parents ?? []) as { parentRef?: unknown; controllerName?: string; conditions?: Cond[] }[];
    const others = oldParents.filter((p) => p.controllerName !== WEFT_CONTROLLER);
    const ours = ((s.status.parents ?? []) as { parentRef: unknown; conditions: StatusCondition[] }[]).map((p) => ({
      ...p,
      conditions: this.#stamp(p.conditions, oldParents.find((o) => o.controllerName === WEFT_CONTROLLER && JSON.stringify(o.parentRef) === JSON.stringify(p.parentRef))?.conditions ?? []),
    }));
    return { ...old, parents: [...others, ...ours] };
  }

  // lastTransitionTime changes only when a condition's status does.
  #stamp(conditions: readonly StatusCondition[], old: readonly Cond[]): Cond[] {
    const now = new Date(this.#o.timers.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return conditions.map((c) => {
      const prev = old.find((o) => o.type === c.type);
      return { ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now };
    });
  }

  async #get(path: string): Promise<Obj | undefined> {
    try {
      return await this.#o.client.request<Obj>('GET', path);
    } catch (err) {
      if (isKubeStatus(err, 404)) return undefined;
      throw err;
    }
  }
}
