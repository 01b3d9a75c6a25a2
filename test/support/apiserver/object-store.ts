// The test API server's storage: resource types, objects by key, resourceVersions and the
// bounded change history that watches from an older version and lists at an exact version replay.
// Writes validate and default objects as k8s.io/apiserver does, and report each change.
import { randomBytes, randomUUID } from 'node:crypto';
import { apiVersionOf, clone, keyOf, notFound, qualified, StatusError, type KubeObject, type ResourceDef } from './resources.js';

/** One change, as history keeps it and watches receive it. */
export interface StoreEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly def: ResourceDef;
  /** The object after the change (for DELETED: the last state, with the deletion's resourceVersion). */
  readonly obj: KubeObject;
  /** The object before the change (undefined for ADDED). */
  readonly prev: KubeObject | undefined;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Objects, resourceVersions and history. */
export class ObjectStore {
  readonly #historyLimit: number;
  readonly #onEvent: (event: StoreEvent) => void;
  readonly #defs = new Map<string, ResourceDef>();
  readonly #store = new Map<string, Map<string, KubeObject>>();
  #history: StoreEvent[] = [];
  #rv = 1;
  #compactedRv = 1;
  #clusterIpNext = 10;
  readonly #rvWaiters = new Set<() => void>();

  /** historyLimit: events kept for old watches; onEvent: told of every change after it is stored. */
  constructor(historyLimit: number, onEvent: (event: StoreEvent) => void) {
    this.#historyLimit = historyLimit;
    this.#onEvent = onEvent;
  }

  /** The latest resourceVersion handed out. */
  get rv(): number {
    return this.#rv;
  }

  /** Versions older than this are gone from history (410 Expired). */
  get compactedRv(): number {
    return this.#compactedRv;
  }

  /** Changes kept, oldest first. */
  get history(): readonly StoreEvent[] {
    return this.#history;
  }

  /** Resolves true once resourceVersion reaches rv (at once when it has), false after timeoutMs. */
  waitForRv(rv: number, timeoutMs: number): Promise<boolean> {
    if (this.#rv >= rv) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#rv < rv) return;
        clearTimeout(timer);
        this.#rvWaiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#rvWaiters.delete(check);
        resolve(false);
      }, timeoutMs);
      this.#rvWaiters.add(check);
    });
  }

  /** Every served type, once each. */
  defs(): ResourceDef[] {
    return [...new Set(this.#defs.values())];
  }

  /** The type served at a URL's group and plural resource. */
  defByPath(group: string, resource: string): ResourceDef | undefined {
    return this.#defs.get(`${group}/${resource}`);
  }

  /** The stored object (not a copy), or undefined. */
  find(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const def = this.defByKind(apiVersion, kind);
    return this.bucket(def).get(keyOf(def, namespace, name));
  }

  /** Serves another resource type. */
  addResource(def: ResourceDef): void {
    this.#defs.set(`${def.group}/${def.resource}`, def);
    this.#defs.set(`kind:${apiVersionOf(def)}/${def.kind}`, def);
    if (!this.#store.has(`${def.group}/${def.resource}`)) this.#store.set(`${def.group}/${def.resource}`, new Map());
  }

  /**
   * Stops serving a type (its URL and kind then answer 404); its objects are kept, so addResource
   * with the same def serves them again.
   */
  removeResource(def: ResourceDef): void {
    this.#defs.delete(`${def.group}/${def.resource}`);
    this.#defs.delete(`kind:${apiVersionOf(def)}/${def.kind}`);
  }

  /** Forgets the history up to now, as etcd compaction does. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  /** The type of an object, from its apiVersion and kind. */
  defFor(obj: KubeObject): ResourceDef {
    if (!obj.apiVersion || !obj.kind) throw new StatusError(400, 'BadRequest', 'Object \'Kind\' is missing in the object');
    return this.defByKind(obj.apiVersion, obj.kind);
  }

  /** The type served for apiVersion and kind; 404 when none. */
  defByKind(apiVersion: string, kind: string): ResourceDef {
    const def = this.#defs.get(`kind:${apiVersion}/${kind}`);
    if (!def) throw new StatusError(404, 'NotFound', `no matches for kind "${kind}" in version "${apiVersion}"`);
    return def;
  }

  /** The stored objects of a type, by keyOf. */
  bucket(def: ResourceDef): Map<string, KubeObject> {
    const b = this.#store.get(`${def.group}/${def.resource}`);
    if (!b) throw new Error(`no store for ${def.resource}`);
    return b;
  }

  /** The stored object, created first when missing. */
  ensure(obj: KubeObject): KubeObject {
    const def = this.defFor(obj);
    return this.bucket(def).get(keyOf(def, obj.metadata.namespace, obj.metadata.name ?? '')) ?? this.create(def, obj, { keepStatus: true });
  }

  #record(event: StoreEvent): void {
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      const last = dropped[dropped.length - 1];
      if (last) this.#compactedRv = last.rv;
    }
    this.#onEvent(event);
    for (const w of [...this.#rvWaiters]) w();
  }

  /** Creates an object as a POST would (keepStatus: an in-process write that may set status). */
  create(def: ResourceDef, body: KubeObject, opts: { keepStatus: boolean; namespace?: string }): KubeObject {
    const obj = this.#checkBody(def, body, opts.namespace);
    const meta = obj.metadata;
    if (!meta.name) {
      if (meta.generateName) meta.name = meta.generateName + randomBytes(3).toString('hex').slice(0, 5);
      else {
        throw new StatusError(422, 'Invalid', `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, {
          kind: def.kind,
          causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }],
        });
      }
    }
    if (!DNS_SUBDOMAIN.test(meta.name)) {
      const msg = `Invalid value: "${meta.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
      throw new StatusError(422, 'Invalid', `${def.kind} "${meta.name}" is invalid: metadata.name: ${msg}`, {
        name: meta.name,
        kind: def.kind,
        causes: [{ reason: 'FieldValueInvalid', message: msg, field: 'metadata.name' }],
      });
    }
    if (def.namespaced) {
      if (!meta.namespace) meta.namespace = 'default';
      const nsDef = this.defByKind('v1', 'Namespace');
      if (!this.bucket(nsDef).has(meta.namespace)) throw notFound(nsDef, meta.namespace);
    } else {
      delete meta.namespace;
    }
    const bucket = this.bucket(def);
    const key = keyOf(def, meta.namespace, meta.name);
    if (bucket.has(key)) {
      throw new StatusError(409, 'AlreadyExists', `${qualified(def)} "${meta.name}" already exists`, {
        name: meta.name,
        ...(def.group === '' ? {} : { group: def.group }),
        kind: def.resource,
      });
    }
    if (!opts.keepStatus && def.statusSubresource) delete obj['status'];
    this.#rv += 1;
    meta.uid = randomUUID();
    meta.resourceVersion = String(this.#rv);
    meta.creationTimestamp = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    if (obj['spec'] !== undefined || def.kind !== 'ConfigMap') meta.generation = 1;
    this.#defaults(def, obj);
    bucket.set(key, obj);
    this.#record({ rv: this.#rv, type: 'ADDED', def, obj, prev: undefined });
    return clone(obj);
  }

  #defaults(def: ResourceDef, obj: KubeObject): void {
    if (def.kind === 'Secret') {
      if (obj['type'] === undefined) obj['type'] = 'Opaque';
      const sd = obj['stringData'];
      if (sd && typeof sd === 'object') {
        const data = { ...((obj['data'] as Record<string, string> | undefined) ?? {}) };
        for (const [k, v] of Object.entries(sd as Record<string, string>)) data[k] = Buffer.from(String(v)).toString('base64');
        obj['data'] = data;
        delete obj['stringData'];
      }
    }
    if (def.kind === 'Service') {
      const spec = (obj['spec'] ??= {}) as Record<string, unknown>;
      spec['type'] ??= 'ClusterIP';
      spec['sessionAffinity'] ??= 'None';
      if (spec['clusterIP'] === undefined && spec['type'] !== 'ExternalName') {
        const n = this.#clusterIpNext++;
        spec['clusterIP'] = `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
        spec['clusterIPs'] = [spec['clusterIP']];
      }
      const ports = spec['ports'];
      if (Array.isArray(ports)) {
        for (const p of ports as Record<string, unknown>[]) {
          p['protocol'] ??= 'TCP';
          p['targetPort'] ??= p['port'];
        }
      }
      obj['status'] ??= { loadBalancer: {} };
    }
  }

  #checkBody(def: ResourceDef, body: unknown, urlNamespace: string | undefined): KubeObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new StatusError(400, 'BadRequest', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml');
    }
    const obj = clone(body as KubeObject);
    const apiVersion = apiVersionOf(def);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
      throw new StatusError(400, 'BadRequest', `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion})`);
    }
    if (obj.kind !== undefined && obj.kind !== def.kind) {
      throw new StatusError(400, 'BadRequest', `the kind in the data (${obj.kind}) does not match the expected kind (${def.kind})`);
    }
    obj.apiVersion = apiVersion;
    obj.kind = def.kind;
    if (!obj.metadata || typeof obj.metadata !== 'object') obj.metadata = {};
    if (def.namespaced && urlNamespace !== undefined) {
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== '' && obj.metadata.namespace !== urlNamespace) {
        throw new StatusError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = urlNamespace;
    }
    return obj;
  }

  /** Replaces an object as a PUT would ('all': an in-process write of spec and status). */
  update(def: ResourceDef, body: KubeObject, part: 'main' | 'status' | 'all', urlNamespace?: string, urlName?: string): KubeObject {
    const obj = this.#checkBody(def, body, urlNamespace);
    const name = obj.metadata.name ?? '';
    if (urlName !== undefined && name !== urlName) {
      throw new StatusError(400, 'BadRequest', 'the name of the object (' + name + ') does not match the name on the URL (' + urlName + ')');
    }
    const ns = def.namespaced ? obj.metadata.namespace ?? 'default' : undefined;
    const bucket = this.bucket(def);
    const key = keyOf(def, ns, name);
    const existing = bucket.get(key);
    if (!existing) throw notFound(def, name);
    const wantRv = obj.metadata.resourceVersion;
    if (wantRv !== undefined && wantRv !== '' && wantRv !== existing.metadata.resourceVersion) {
      throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, {
        name,
        ...(def.group === '' ? {} : { group: def.group }),
        kind: def.resource,
      });
    }
    let next: KubeObject;
    if (part === 'status') {
      next = clone(existing);
      if (obj['status'] === undefined) delete next['status'];
      else next['status'] = obj['status'];
    } else {
      next = obj;
      if (part === 'main' && def.statusSubresource) {
        if (existing['status'] === undefined) delete next['status'];
        else next['status'] = clone(existing['status'] as KubeObject);
      }
      next.metadata = {
        ...obj.metadata,
        namespace: existing.metadata.namespace,
        uid: existing.metadata.uid,
        creationTimestamp: existing.metadata.creationTimestamp,
        generation: existing.metadata.generation,
      };
      if (!def.namespaced) delete next.metadata.namespace;
      if (next.metadata.generation !== undefined && JSON.stringify(next['spec']) !== JSON.stringify(existing['spec'])) {
        next.metadata.generation += 1;
      }
    }
    this.#defaults(def, next);
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
    // An update that changes nothing is a no-op: same resourceVersion, no watch event.
    if (JSON.stringify(next) === JSON.stringify(existing)) return clone(existing);
    this.#rv += 1;
    next.metadata.resourceVersion = String(this.#rv);
    bucket.set(key, next);
    this.#record({ rv: this.#rv, type: 'MODIFIED', def, obj: next, prev: existing });
    return clone(next);
  }

  /** Deletes an object (a Namespace takes its objects with it). */
  delete(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const bucket = this.bucket(def);
    const key = keyOf(def, namespace, name);
    const existing = bucket.get(key);
    if (!existing) throw notFound(def, name);
    if (def.kind === 'Namespace' && def.group === '') {
      // The namespace controller empties a deleted namespace; done at once here.
      for (const other of this.defs()) {
        if (!other.namespaced) continue;
        for (const o of [...this.bucket(other).values()]) {
          if (o.metadata.namespace === name) this.delete(other, name, o.metadata.name ?? '');
        }
      }
    }
    bucket.delete(key);
    this.#rv += 1;
    const gone = { ...clone(existing), metadata: { ...clone(existing).metadata, resourceVersion: String(this.#rv) } };
    this.#record({ rv: this.#rv, type: 'DELETED', def, obj: gone, prev: existing });
    return clone(gone);
  }

  /** Objects of def as they were at resourceVersion rv (undoing later history). */
  stateAt(def: ResourceDef, rv: number): Map<string, KubeObject> {
    const state = new Map(this.bucket(def));
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const e = this.#history[i];
      if (!e || e.rv <= rv) break;
      if (e.def !== def) continue;
      const key = keyOf(def, e.obj.metadata.namespace, e.obj.metadata.name ?? '');
      if (e.type === 'ADDED') state.delete(key);
      else if (e.prev) state.set(key, e.prev);
    }
    return state;
  }
}
