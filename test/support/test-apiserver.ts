// A Kubernetes API server for tests: HTTPS with its own CA, the real REST paths, list and watch
// with resourceVersions (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR as JSON lines), label and field
// selectors, TokenReview, Self/SubjectAccessReview, pods/proxy, and the Status objects the real server returns.
// Tests drive it in-process: change objects, compact history, cut or expire watches, stop and
// restart it on the same port. Its behaviour follows k8s.io/apiserver; where it simplifies, the
// comment says so.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import fastJsonPatch from 'fast-json-patch';
import { makeTestPki } from './pki.js';
import { issueServingMaterial } from '../../ca/serving.js';
import {
  labelsMatch,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelSelector,
} from './kube-selectors.js';

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: KubeMeta;
  [field: string]: unknown;
}

/** The metadata fields the server reads and writes. */
export interface KubeMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A served resource type. */
export interface ResourceDef {
  /** API group, '' for core. */
  readonly group: string;
  readonly version: string;
  /** Plural, as in the URL. */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Main-resource writes keep the stored status; /status writes change only status. */
  readonly statusSubresource?: boolean;
  /** Extra field selectors beyond metadata.name and metadata.namespace. */
  readonly fields?: Readonly<Record<string, (obj: KubeObject) => string | undefined>>;
}

/** The authenticated caller. */
export interface UserInfo {
  readonly username: string;
  readonly uid: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** What an authorizer decides on, as in SubjectAccessReview resourceAttributes. */
export interface RequestAttributes {
  readonly user: UserInfo;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** Options for a projected service-account token. */
export interface TokenOptions {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Default: the API server's own audience. */
  readonly audiences?: readonly string[];
  /** Default: one hour from now. */
  readonly expiresAt?: Date;
  /** Binds the token to a pod: it stops authenticating once the pod is gone. */
  readonly pod?: { readonly name: string; readonly uid?: string };
}

/** Server options. */
export interface TestApiServerOptions {
  readonly host?: string;
  readonly port?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK (the real server: about 1 min). */
  readonly bookmarkIntervalMs?: number;
  /** Watch length when the client sends no timeoutSeconds (the real server: 30-60 min). */
  readonly defaultWatchTimeoutSeconds?: number;
  /** Events kept for watches from an older resourceVersion (the real watch cache is bounded too). */
  readonly historyLimit?: number;
  /** What GET /version reports (default v1.31.0), e.g. to test version checks. */
  readonly gitVersion?: string;
}

/** The default API audience of a cluster's service-account tokens. */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** The resource types the server starts with; more can be added with addResource. */
export const BUILTIN_RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, statusSubresource: true, fields: { 'status.phase': (o) => str(o, 'status', 'phase') } },
  {
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, statusSubresource: true,
    fields: {
      'spec.nodeName': (o) => str(o, 'spec', 'nodeName') ?? '',
      'spec.serviceAccountName': (o) => str(o, 'spec', 'serviceAccountName') ?? '',
      'status.phase': (o) => str(o, 'status', 'phase') ?? '',
      'status.podIP': (o) => str(o, 'status', 'podIP') ?? '',
    },
  },
  { group: '', version: 'v1', resource: 'services', singular: 'service', kind: 'Service', namespaced: true, statusSubresource: true },
  { group: '', version: 'v1', resource: 'endpoints', singular: 'endpoints', kind: 'Endpoints', namespaced: true },
  { group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, fields: { type: (o) => (typeof o['type'] === 'string' ? o['type'] : '') } },
  { group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', namespaced: true, fields: { addressType: (o) => (typeof o['addressType'] === 'string' ? o['addressType'] : '') } },
  { group: 'apps', version: 'v1', resource: 'deployments', singular: 'deployment', kind: 'Deployment', namespaced: true, statusSubresource: true },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', singular: 'ingress', kind: 'Ingress', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gateways', singular: 'gateway', kind: 'Gateway', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', singular: 'httproute', kind: 'HTTPRoute', namespaced: true, statusSubresource: true },
  { group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingwebhookconfigurations', singular: 'mutatingwebhookconfiguration', kind: 'MutatingWebhookConfiguration', namespaced: false },
];

function str(o: KubeObject, a: string, b: string): string | undefined {
  const inner = o[a];
  if (inner && typeof inner === 'object') {
    const v = (inner as Record<string, unknown>)[b];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** A Kubernetes Status object. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason: string; message: string; field?: string }[] };
  code: number;
}

/** An error answered with a Status object. */
export class StatusError extends Error {
  readonly status: KubeStatus;
  constructor(code: number, reason: string, message: string, details?: KubeStatus['details']) {
    super(message);
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
  }
}

function qualified(def: ResourceDef): string {
  return def.group === '' ? def.resource : `${def.resource}.${def.group}`;
}

function notFound(def: ResourceDef, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${qualified(def)} "${name}" not found`, {
    name,
    ...(def.group === '' ? {} : { group: def.group }),
    kind: def.resource,
  });
}

function apiVersionOf(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

interface HistoryEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly def: ResourceDef;
  /** The object after the change (for DELETED: the last state, with the deletion's resourceVersion). */
  readonly obj: KubeObject;
  /** The object before the change (undefined for ADDED). */
  readonly prev: KubeObject | undefined;
}

interface Watcher {
  readonly def: ResourceDef;
  readonly namespace: string | undefined;
  readonly labels: LabelSelector;
  readonly fields: FieldRequirement[];
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
  timers: NodeJS.Timeout[];
  closed: boolean;
}

interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
  };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The test API server. Create with TestApiServer.start(). */
export class TestApiServer {
  readonly #opts: Required<Omit<TestApiServerOptions, 'port' | 'gitVersion'>> & { port: number };
  /** What GET /version reports; tests may change it between requests. */
  gitVersion: string;
  readonly #defs = new Map<string, ResourceDef>();
  readonly #store = new Map<string, Map<string, KubeObject>>();
  #history: HistoryEvent[] = [];
  #rv = 1;
  #compactedRv = 1;
  readonly #watchers = new Set<Watcher>();
  readonly #sockets = new Set<Socket>();
  readonly #tokenKey = randomBytes(32);
  readonly #staticTokens = new Map<string, UserInfo>();
  #authorizer: (attrs: RequestAttributes) => boolean = () => true;
  #server: Server | undefined;
  #tls: { key: string; cert: string } | undefined;
  #caPem = '';
  #clusterIpNext = 10;
  /** Token of a cluster-admin user, for tests and kubeconfigs. */
  readonly adminToken = `admin-${randomBytes(16).toString('hex')}`;
  /** Requests received, by "VERB path" (path without query); tests use it to see re-lists. */
  readonly requests: string[] = [];

  private constructor(opts: TestApiServerOptions) {
    this.#opts = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
      defaultWatchTimeoutSeconds: opts.defaultWatchTimeoutSeconds ?? 1800,
      historyLimit: opts.historyLimit ?? 100_000,
    };
    this.gitVersion = opts.gitVersion ?? 'v1.31.0';
    for (const def of BUILTIN_RESOURCES) this.addResource(def);
    this.#staticTokens.set(this.adminToken, { username: 'kubernetes-admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] });
    for (const ns of ['default', 'kube-system', 'kube-public']) {
      this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    }
  }

  /** Starts a server with a fresh CA and serving certificate for 127.0.0.1/localhost/the host. */
  static async start(opts: TestApiServerOptions = {}): Promise<TestApiServer> {
    const server = new TestApiServer(opts);
    const pki = await makeTestPki('cluster.local');
    const names = [...new Set([server.#opts.host, '127.0.0.1', 'localhost', 'kubernetes.default.svc'])];
    const serving = await issueServingMaterial({ authority: pki.authority, names, now: new Date(), lifetimeHours: 24 });
    server.#tls = { key: serving.keyPem, cert: serving.certChainPem };
    server.#caPem = pki.authority.root.toString('pem') + '\n';
    await server.listen();
    return server;
  }

  /** The CA that signed the serving certificate (what a client must trust). */
  get caPem(): string {
    return this.#caPem;
  }

  get port(): number {
    return this.#opts.port;
  }

  get host(): string {
    return this.#opts.host;
  }

  /** https://host:port */
  get url(): string {
    return `https://${this.#opts.host}:${this.#opts.port}`;
  }

  /** True while listening. */
  get running(): boolean {
    return this.#server !== undefined;
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Active watch streams. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  /** Listens (again) on the configured port; after stop() the same port is reused. */
  async listen(): Promise<void> {
    if (this.#server) return;
    const tls = this.#tls;
    if (!tls) throw new Error('no serving certificate');
    const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => this.#handle(req, res));
    // Tracked from the TCP accept, so a connection still in its TLS handshake is dropped by stop() too.
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.#opts.port = addr.port;
    this.#server = server;
  }

  /** Stops listening and drops every connection (watches end abruptly); the store is kept. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const w of [...this.#watchers]) this.#closeWatcher(w, true);
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** Alias of listen() after stop(), for readability in tests. */
  restart(): Promise<void> {
    return this.listen();
  }

  /** Serves another resource type (a CRD, or a built-in this server lacks). */
  addResource(def: ResourceDef): void {
    this.#defs.set(`${def.group}/${def.resource}`, def);
    this.#defs.set(`kind:${apiVersionOf(def)}/${def.kind}`, def);
    if (!this.#store.has(`${def.group}/${def.resource}`)) this.#store.set(`${def.group}/${def.resource}`, new Map());
  }

  /** Replaces the authorizer (default: every authenticated user may do everything). */
  setAuthorizer(authorize: (attrs: RequestAttributes) => boolean): void {
    this.#authorizer = authorize;
  }

  /** Registers a static bearer token for a user. */
  addUserToken(token: string, user: UserInfo): void {
    this.#staticTokens.set(token, user);
  }

  /**
   * Issues a projected service-account token (a signed JWT like the kubelet's); the namespace and
   * the ServiceAccount are created when missing, as they exist for any real pod.
   */
  issueToken(opts: TokenOptions): string {
    this.#ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: opts.namespace }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    const sa = this.#ensure({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: opts.serviceAccount, namespace: opts.namespace } });
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: ISSUER,
      sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`,
      aud: [...(opts.audiences ?? [API_AUDIENCE])],
      exp: Math.floor((opts.expiresAt?.getTime() ?? Date.now() + 3_600_000) / 1000),
      iat: now,
      nbf: now,
      'kubernetes.io': {
        namespace: opts.namespace,
        serviceaccount: { name: opts.serviceAccount, uid: sa.metadata.uid ?? '' },
        ...(opts.pod ? { pod: { name: opts.pod.name, uid: opts.pod.uid ?? '' } } : {}),
      },
    };
    return this.#signJwt(claims);
  }

  /** A JWT with the same shape as issueToken's but signed by another key: what a forger holds. */
  forgeToken(opts: TokenOptions): string {
    const real = this.issueToken(opts);
    const [header, payload] = real.split('.');
    const sig = createHmac('sha256', randomBytes(32)).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }

  /** A kubeconfig (YAML) pointing at this server with the given bearer token. */
  kubeconfig(token = this.adminToken, namespace = 'default'): string {
    const ca = Buffer.from(this.#caPem).toString('base64');
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${this.url}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      '- name: test',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      '    user: test',
      `    namespace: ${namespace}`,
      'current-context: test',
      '',
    ].join('\n');
  }

  // ---- in-process object access (as controllers and the kubelet would write) ----

  /** Creates an object; throws StatusError like the API would (409 when it exists). */
  create(obj: KubeObject): KubeObject {
    return this.#create(this.#defFor(obj), obj, { keepStatus: true });
  }

  /** Replaces an object (status included); throws 404 when missing. */
  update(obj: KubeObject): KubeObject {
    const def = this.#defFor(obj);
    return this.#update(def, { ...obj, metadata: { ...obj.metadata, resourceVersion: undefined } } as KubeObject, 'all');
  }

  /** Creates or replaces. */
  apply(obj: KubeObject): KubeObject {
    const def = this.#defFor(obj);
    const existing = this.#bucket(def).get(keyOf(def, obj.metadata.namespace, obj.metadata.name ?? ''));
    return existing ? this.update(obj) : this.create(obj);
  }

  /** Deletes an object; throws 404 when missing. */
  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject {
    const def = this.#defByKind(apiVersion, kind);
    return this.#delete(def, def.namespaced ? namespace : undefined, name);
  }

  /** The stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const def = this.#defByKind(apiVersion, kind);
    const obj = this.#bucket(def).get(keyOf(def, namespace, name));
    return obj ? clone(obj) : undefined;
  }

  /** Stored objects of a kind, optionally in one namespace. */
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const def = this.#defByKind(apiVersion, kind);
    return [...this.#bucket(def).values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace).map(clone);
  }

  // ---- failure injection ----

  /** Forgets the history up to now, as etcd compaction does: watches from older versions get 410. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  /** Drops every watch connection without a word (a network cut or an API server crash). */
  cutWatches(): void {
    for (const w of [...this.#watchers]) this.#closeWatcher(w, true);
  }

  /** Ends every watch with ERROR 410 Expired and compacts, as a watch cache that fell behind does. */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.#watchers]) {
      this.#writeEvent(w, { type: 'ERROR', object: this.#expiredStatus(w.def, this.#rv - 1) });
      this.#closeWatcher(w, false);
    }
  }

  /** Sends a BOOKMARK now to every watch that asked for them. */
  sendBookmarks(): void {
    for (const w of this.#watchers) if (w.bookmarks) this.#writeBookmark(w);
  }

  // ---- store ----

  #defFor(obj: KubeObject): ResourceDef {
    if (!obj.apiVersion || !obj.kind) throw new StatusError(400, 'BadRequest', 'Object \'Kind\' is missing in the object');
    return this.#defByKind(obj.apiVersion, obj.kind);
  }

  #defByKind(apiVersion: string, kind: string): ResourceDef {
    const def = this.#defs.get(`kind:${apiVersion}/${kind}`);
    if (!def) throw new StatusError(404, 'NotFound', `no matches for kind "${kind}" in version "${apiVersion}"`);
    return def;
  }

  #bucket(def: ResourceDef): Map<string, KubeObject> {
    const b = this.#store.get(`${def.group}/${def.resource}`);
    if (!b) throw new Error(`no store for ${def.resource}`);
    return b;
  }

  #ensure(obj: KubeObject): KubeObject {
    const def = this.#defFor(obj);
    return this.#bucket(def).get(keyOf(def, obj.metadata.namespace, obj.metadata.name ?? '')) ?? this.create(obj);
  }

  #record(event: Omit<HistoryEvent, 'rv'> & { rv: number }): void {
    this.#history.push(event);
    if (this.#history.length > this.#opts.historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#opts.historyLimit);
      const last = dropped[dropped.length - 1];
      if (last) this.#compactedRv = last.rv;
    }
    for (const w of this.#watchers) this.#deliver(w, event);
  }

  #create(def: ResourceDef, body: KubeObject, opts: { keepStatus: boolean; namespace?: string }): KubeObject {
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
      const nsDef = this.#defByKind('v1', 'Namespace');
      if (!this.#bucket(nsDef).has(meta.namespace)) throw notFound(nsDef, meta.namespace);
    } else {
      delete meta.namespace;
    }
    const bucket = this.#bucket(def);
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

  #update(def: ResourceDef, body: KubeObject, part: 'main' | 'status' | 'all', urlNamespace?: string, urlName?: string): KubeObject {
    const obj = this.#checkBody(def, body, urlNamespace);
    const name = obj.metadata.name ?? '';
    if (urlName !== undefined && name !== urlName) {
      throw new StatusError(400, 'BadRequest', 'the name of the object (' + name + ') does not match the name on the URL (' + urlName + ')');
    }
    const ns = def.namespaced ? obj.metadata.namespace ?? 'default' : undefined;
    const bucket = this.#bucket(def);
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

  #delete(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const bucket = this.#bucket(def);
    const key = keyOf(def, namespace, name);
    const existing = bucket.get(key);
    if (!existing) throw notFound(def, name);
    if (def.kind === 'Namespace' && def.group === '') {
      // The namespace controller empties a deleted namespace; done at once here.
      for (const other of new Set(this.#defs.values())) {
        if (!other.namespaced) continue;
        for (const o of [...this.#bucket(other).values()]) {
          if (o.metadata.namespace === name) this.#delete(other, name, o.metadata.name ?? '');
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
  #stateAt(def: ResourceDef, rv: number): Map<string, KubeObject> {
    const state = new Map(this.#bucket(def));
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

  // ---- HTTP ----

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://apiserver');
      this.requests.push(`${req.method ?? 'GET'} ${url.pathname}${url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' ? '?watch' : ''}`);
      void this.#route(req, res, url, Buffer.concat(chunks)).catch((err: unknown) => {
        const status = err instanceof StatusError ? err.status : new StatusError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).status;
        if (res.headersSent) {
          res.destroy();
          return;
        }
        sendJson(res, status.code, status);
      });
    });
  }

  #authenticate(req: IncomingMessage): UserInfo | undefined {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || !m[1]) return undefined;
    const token = m[1];
    const user = this.#staticTokens.get(token);
    if (user) return user;
    const review = this.#reviewToken(token, [API_AUDIENCE]);
    return review.authenticated ? review.user : undefined;
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (method === 'GET' && (path === '/healthz' || path === '/livez' || path === '/readyz')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (method === 'GET' && path === '/version') {
      const [major = '', minor = ''] = this.gitVersion.replace(/^v/, '').split('.');
      sendJson(res, 200, {
        major, minor, gitVersion: this.gitVersion, gitCommit: '9edcffcde5595e8a5b1a35f88c421764e575afce',
        gitTreeState: 'clean', buildDate: '2024-08-13T07:28:49Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64',
      });
      return;
    }
    const user = this.#authenticate(req);
    if (!user) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    if (method === 'GET' && this.#discovery(res, path)) return;
    const podProxy = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+):(\d+)\/proxy(\/.*)?$/.exec(path);
    if (podProxy && method === 'GET') {
      const [, ns = '', pod = '', port = '', rest = '/'] = podProxy;
      this.#authorize(user, 'get', '', 'pods', ns, pod, 'proxy');
      await this.#proxyToPod(res, ns, pod, Number(port), rest + url.search);
      return;
    }

    const target = this.#parsePath(path);
    if (!target) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    const { group, version, namespace, resource, name, subresource } = target;

    if (group === 'authentication.k8s.io' && version === 'v1' && resource === 'tokenreviews' && !name && method === 'POST') {
      this.#authorize(user, 'create', group, resource, undefined, undefined);
      sendJson(res, 201, this.#tokenReview(parseBody(body)));
      return;
    }
    if (group === 'authorization.k8s.io' && version === 'v1' && resource === 'subjectaccessreviews' && !name && method === 'POST') {
      this.#authorize(user, 'create', group, resource, undefined, undefined);
      sendJson(res, 201, this.#subjectAccessReview(parseBody(body)));
      return;
    }
    if (group === 'authorization.k8s.io' && version === 'v1' && resource === 'selfsubjectaccessreviews' && !name && method === 'POST') {
      sendJson(res, 201, this.#selfSubjectAccessReview(user, parseBody(body)));
      return;
    }
    const def = this.#defs.get(`${group}/${resource}`);
    if (!def || def.version !== version || (namespace !== undefined && !def.namespaced)) {
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    if (subresource !== undefined && !(subresource === 'status' && def.statusSubresource)) {
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb =
      method === 'GET' ? (name ? 'get' : watch ? 'watch' : 'list')
      : method === 'POST' && !name ? 'create'
      : method === 'PUT' && name ? 'update'
      : method === 'PATCH' && name ? 'patch'
      : method === 'DELETE' && name ? 'delete'
      : undefined;
    if (!verb) {
      throw new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, { kind: def.resource });
    }
    this.#authorize(user, verb, group, resource, namespace, name, subresource);
    const ns = def.namespaced ? namespace : undefined;
    switch (verb) {
      case 'get': {
        const obj = this.#bucket(def).get(keyOf(def, ns, name ?? ''));
        if (!obj || (def.namespaced && ns === undefined)) throw notFound(def, name ?? '');
        sendJson(res, 200, obj);
        return;
      }
      case 'list':
        await this.#list(res, def, ns, q);
        return;
      case 'watch':
        this.#watch(res, def, ns, q);
        return;
      case 'create':
        if (def.namespaced && ns === undefined) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
        sendJson(res, 201, this.#create(def, parseBody(body) as KubeObject, { keepStatus: false, ...(ns === undefined ? {} : { namespace: ns }) }));
        return;
      case 'update':
        sendJson(res, 200, this.#update(def, parseBody(body) as KubeObject, subresource === 'status' ? 'status' : 'main', ns, name));
        return;
      case 'patch': {
        const existing = this.#bucket(def).get(keyOf(def, ns, name ?? ''));
        if (!existing) throw notFound(def, name ?? '');
        const patched = applyPatch(existing, req.headers['content-type'] ?? '', body);
        patched.metadata.resourceVersion = (patched.metadata.resourceVersion as string | undefined) ?? undefined;
        sendJson(res, 200, this.#update(def, patched, subresource === 'status' ? 'status' : 'main', ns, name));
        return;
      }
      case 'delete':
        sendJson(res, 200, this.#delete(def, ns, name ?? ''));
        return;
    }
  }

  #authorize(user: UserInfo, verb: string, group: string, resource: string, namespace?: string, name?: string, subresource?: string): void {
    const attrs: RequestAttributes = {
      user, verb, group, resource,
      ...(namespace === undefined ? {} : { namespace }),
      ...(name === undefined ? {} : { name }),
      ...(subresource === undefined ? {} : { subresource }),
    };
    if (user.groups.includes('system:masters') || this.#authorizer(attrs)) return;
    const what = subresource ? `${resource}/${subresource}` : resource;
    const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
    const named = name ? `${what} "${name}"` : what;
    throw new StatusError(403, 'Forbidden', `${group === '' ? named : named.replace(resource, `${resource}.${group}`)} is forbidden: User "${user.username}" cannot ${verb} resource "${what}" in API group "${group}" ${where}`, {
      ...(name ? { name } : {}),
      ...(group === '' ? {} : { group }),
      kind: resource,
    });
  }

  #parsePath(path: string): { group: string; version: string; namespace?: string; resource: string; name?: string; subresource?: string } | undefined {
    const seg = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === 'api' && seg.length >= 3) {
      group = '';
      version = seg[1] ?? '';
      rest = seg.slice(2);
    } else if (seg[0] === 'apis' && seg.length >= 4) {
      group = seg[1] ?? '';
      version = seg[2] ?? '';
      rest = seg.slice(3);
    } else return undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      const [, namespace = '', resource = '', name, subresource, ...extra] = rest;
      if (extra.length > 0) return undefined;
      return { group, version, namespace, resource, ...(name === undefined ? {} : { name }), ...(subresource === undefined ? {} : { subresource }) };
    }
    const [resource = '', name, subresource, ...extra] = rest;
    if (extra.length > 0) return undefined;
    return { group, version, resource, ...(name === undefined ? {} : { name }), ...(subresource === undefined ? {} : { subresource }) };
  }

  #discovery(res: ServerResponse, path: string): boolean {
    const defs = [...new Set(this.#defs.values())];
    const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
    const resourceList = (groupVersion: string, list: ResourceDef[]): unknown => ({
      kind: 'APIResourceList',
      groupVersion,
      resources: list.flatMap((d) => [
        { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs },
        ...(d.statusSubresource ? [{ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] }] : []),
      ]),
    });
    if (path === '/api') {
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${this.host}:${this.port}` }] });
      return true;
    }
    if (path === '/api/v1') {
      sendJson(res, 200, resourceList('v1', defs.filter((d) => d.group === '')));
      return true;
    }
    const groups = new Map<string, Set<string>>();
    for (const d of defs) if (d.group !== '') (groups.get(d.group) ?? groups.set(d.group, new Set()).get(d.group))?.add(d.version);
    groups.set('authentication.k8s.io', new Set(['v1']));
    groups.set('authorization.k8s.io', new Set(['v1']));
    if (path === '/apis') {
      sendJson(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => {
          const vs = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
          return { name, versions: vs, preferredVersion: vs[0] };
        }),
      });
      return true;
    }
    const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (m && groups.get(m[1] ?? '')?.has(m[2] ?? '')) {
      sendJson(res, 200, resourceList(`${m[1]}/${m[2]}`, defs.filter((d) => d.group === m[1] && d.version === m[2])));
      return true;
    }
    return false;
  }

  #selectors(q: URLSearchParams, def: ResourceDef): { labels: LabelSelector; fields: FieldRequirement[] } {
    const labels = parseLabelSelector(q.get('labelSelector') ?? '');
    if (typeof labels === 'string') throw new StatusError(400, 'BadRequest', `unable to parse requirement: ${labels}`);
    const fields = parseFieldSelector(q.get('fieldSelector') ?? '');
    if (typeof fields === 'string') throw new StatusError(400, 'BadRequest', fields);
    for (const f of fields) {
      if (f.field !== 'metadata.name' && f.field !== 'metadata.namespace' && !def.fields?.[f.field]) {
        throw new StatusError(400, 'BadRequest', `field label not supported: ${f.field}`);
      }
    }
    return { labels, fields };
  }

  #matches(def: ResourceDef, obj: KubeObject, namespace: string | undefined, labels: LabelSelector, fields: FieldRequirement[]): boolean {
    if (namespace !== undefined && obj.metadata.namespace !== namespace) return false;
    if (!labelsMatch(labels, obj.metadata.labels)) return false;
    return fields.every((f) => {
      const actual =
        f.field === 'metadata.name' ? obj.metadata.name
        : f.field === 'metadata.namespace' ? obj.metadata.namespace ?? ''
        : def.fields?.[f.field]?.(obj);
      return f.negate ? actual !== f.value : actual === f.value;
    });
  }

  async #list(res: ServerResponse, def: ResourceDef, namespace: string | undefined, q: URLSearchParams): Promise<void> {
    const { labels, fields } = this.#selectors(q, def);
    const rvParam = q.get('resourceVersion') ?? '';
    const match = q.get('resourceVersionMatch') ?? '';
    const limit = Number(q.get('limit') ?? '0') || 0;
    const cont = q.get('continue') ?? '';
    if (match !== '' && match !== 'Exact' && match !== 'NotOlderThan') {
      throw new StatusError(422, 'Invalid', `resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`);
    }
    if (match !== '' && rvParam === '') {
      throw new StatusError(422, 'Invalid', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided');
    }
    let listRv = this.#rv;
    let start = 0;
    if (cont !== '') {
      let token: { rv?: unknown; start?: unknown };
      try {
        token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { rv?: unknown; start?: unknown };
      } catch {
        throw new StatusError(400, 'BadRequest', 'continue key is not valid: illegal base64 data');
      }
      listRv = Number(token.rv);
      start = Number(token.start);
      if (listRv < this.#compactedRv) {
        throw new StatusError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
      }
    } else if (rvParam !== '' && rvParam !== '0') {
      if (!/^\d+$/.test(rvParam)) throw new StatusError(400, 'BadRequest', `resourceVersion: Invalid value: "${rvParam}": strconv.ParseUint: parsing "${rvParam}": invalid syntax`);
      const wanted = Number(rvParam);
      if (wanted > this.#rv) {
        // The real server waits up to 3 s for its cache to catch up, then gives up with 504.
        await new Promise((r) => setTimeout(r, 3000));
        if (wanted > this.#rv) {
          throw new StatusError(504, 'Timeout', `Too large resource version: ${wanted}, current: ${this.#rv}`, {
            causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          });
        }
      }
      if (match === 'Exact') {
        if (wanted < this.#compactedRv) throw new StatusError(410, 'Expired', `too old resource version: ${wanted} (${this.#compactedRv})`);
        listRv = wanted;
      }
    }
    const state = listRv === this.#rv ? this.#bucket(def) : this.#stateAt(def, listRv);
    const items = [...state.values()]
      .filter((o) => this.#matches(def, o, namespace, labels, fields))
      .sort((a, b) => keyOf(def, a.metadata.namespace, a.metadata.name ?? '').localeCompare(keyOf(def, b.metadata.namespace, b.metadata.name ?? '')));
    const page = limit > 0 ? items.slice(start, start + limit) : items.slice(start);
    const more = limit > 0 && start + limit < items.length;
    sendJson(res, 200, {
      kind: `${def.kind}List`,
      apiVersion: apiVersionOf(def),
      metadata: {
        resourceVersion: String(listRv),
        ...(more ? { continue: Buffer.from(JSON.stringify({ rv: listRv, start: start + limit })).toString('base64url'), remainingItemCount: items.length - start - limit } : {}),
      },
      // Items of a list carry no kind/apiVersion, as from the real server.
      items: page.map((o) => {
        const { apiVersion: _a, kind: _k, ...rest } = o;
        return rest;
      }),
    });
  }

  #watch(res: ServerResponse, def: ResourceDef, namespace: string | undefined, q: URLSearchParams): void {
    const { labels, fields } = this.#selectors(q, def);
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const sendInitial = q.get('sendInitialEvents');
    const timeoutParam = q.get('timeoutSeconds');
    if (sendInitial === 'true' && (!bookmarks || q.get('resourceVersionMatch') !== 'NotOlderThan')) {
      throw new StatusError(422, 'Invalid', 'sendInitialEvents: Forbidden: sendInitialEvents requires setting allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan');
    }
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) {
      throw new StatusError(400, 'BadRequest', `resourceVersion: Invalid value: "${rvParam}": strconv.ParseUint: parsing "${rvParam}": invalid syntax`);
    }
    // 0 or absent means the server's own default, as in the real server.
    const asked = timeoutParam !== null && /^\d+$/.test(timeoutParam) ? Number(timeoutParam) : 0;
    const timeoutSeconds = asked > 0 ? asked : this.#opts.defaultWatchTimeoutSeconds;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = { def, namespace, labels, fields, res, bookmarks, timers: [], closed: false };
    res.on('close', () => this.#closeWatcher(w, false));
    const initial = rvParam === '' || rvParam === '0' || sendInitial === 'true';
    if (initial) {
      // "Get State and Start at Most Recent": synthetic ADDED for what exists now.
      for (const o of this.#bucket(def).values()) {
        if (this.#matches(def, o, namespace, labels, fields)) this.#writeEvent(w, { type: 'ADDED', object: o });
      }
      if (sendInitial === 'true') {
        this.#writeEvent(w, {
          type: 'BOOKMARK',
          object: { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(this.#rv), annotations: { 'k8s.io/initial-events-end': 'true' } } },
        });
      }
    } else {
      const from = Number(rvParam);
      if (from < this.#compactedRv) {
        this.#writeEvent(w, { type: 'ERROR', object: this.#expiredStatus(def, from) });
        res.end();
        return;
      }
      for (const e of this.#history) if (e.rv > from) this.#deliver(w, e);
    }
    this.#watchers.add(w);
    w.timers.push(setTimeout(() => this.#closeWatcher(w, false), timeoutSeconds * 1000));
    if (bookmarks) w.timers.push(setInterval(() => this.#writeBookmark(w), this.#opts.bookmarkIntervalMs));
  }

  #expiredStatus(_def: ResourceDef, from: number): KubeStatus {
    return new StatusError(410, 'Expired', `too old resource version: ${from} (${this.#compactedRv})`).status;
  }

  #deliver(w: Watcher, e: HistoryEvent): void {
    if (w.def !== e.def || w.closed) return;
    const nowMatch = e.type !== 'DELETED' && this.#matches(w.def, e.obj, w.namespace, w.labels, w.fields);
    const wasMatch = e.prev !== undefined && this.#matches(w.def, e.prev, w.namespace, w.labels, w.fields);
    if (e.type === 'ADDED' && nowMatch) this.#writeEvent(w, { type: 'ADDED', object: e.obj });
    else if (e.type === 'MODIFIED') {
      // An object moving into or out of the selection is ADDED or DELETED for this watch.
      if (nowMatch && wasMatch) this.#writeEvent(w, { type: 'MODIFIED', object: e.obj });
      else if (nowMatch) this.#writeEvent(w, { type: 'ADDED', object: e.obj });
      else if (wasMatch) this.#writeEvent(w, { type: 'DELETED', object: e.obj });
    } else if (e.type === 'DELETED' && wasMatch) this.#writeEvent(w, { type: 'DELETED', object: e.obj });
  }

  #writeBookmark(w: Watcher): void {
    this.#writeEvent(w, { type: 'BOOKMARK', object: { kind: w.def.kind, apiVersion: apiVersionOf(w.def), metadata: { resourceVersion: String(this.#rv) } } });
  }

  #writeEvent(w: Watcher, event: { type: string; object: unknown }): void {
    if (w.closed || w.res.destroyed) return;
    w.res.write(JSON.stringify(event) + '\n');
  }

  #closeWatcher(w: Watcher, abrupt: boolean): void {
    if (w.closed) return;
    w.closed = true;
    for (const t of w.timers) clearTimeout(t);
    this.#watchers.delete(w);
    if (abrupt) w.res.socket?.destroy();
    else if (!w.res.writableEnded) w.res.end();
  }

  // ---- authentication ----

  #signJwt(claims: TokenClaims): string {
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'test-apiserver' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const sig = createHmac('sha256', this.#tokenKey).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }

  #reviewToken(token: string, audiences: readonly string[]): { authenticated: boolean; user?: UserInfo; audiences?: string[]; error?: string } {
    const staticUser = this.#staticTokens.get(token);
    if (staticUser) return { authenticated: true, user: staticUser, audiences: [...audiences] };
    const parts = token.split('.');
    if (parts.length !== 3) return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    const [header = '', payload = '', sig = ''] = parts;
    const expected = createHmac('sha256', this.#tokenKey).update(`${header}.${payload}`).digest();
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { authenticated: false, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' };
    }
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    }
    if (claims.exp * 1000 <= Date.now()) {
      return { authenticated: false, error: '[invalid bearer token, square/go-jose/jwt: validation failed, token is expired (exp)]' };
    }
    const granted = audiences.filter((a) => claims.aud.includes(a));
    if (granted.length === 0) {
      return { authenticated: false, error: `[invalid bearer token, token audiences ${JSON.stringify(claims.aud)} is invalid for the target audiences ${JSON.stringify(audiences)}]` };
    }
    const k = claims['kubernetes.io'];
    const sa = this.get('v1', 'ServiceAccount', k.namespace, k.serviceaccount.name);
    if (!sa || sa.metadata.uid !== k.serviceaccount.uid) {
      return { authenticated: false, error: `[invalid bearer token, service account ${k.namespace}/${k.serviceaccount.name} has been deleted]` };
    }
    if (k.pod) {
      const pod = this.get('v1', 'Pod', k.namespace, k.pod.name);
      if (!pod || (k.pod.uid !== '' && pod.metadata.uid !== k.pod.uid)) {
        return { authenticated: false, error: `[invalid bearer token, pod ${k.namespace}/${k.pod.name} has been deleted]` };
      }
    }
    return {
      authenticated: true,
      audiences: granted,
      user: {
        username: claims.sub,
        uid: k.serviceaccount.uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
        ...(k.pod ? { extra: { 'authentication.kubernetes.io/pod-name': [k.pod.name], 'authentication.kubernetes.io/pod-uid': [k.pod.uid] } } : {}),
      },
    };
  }

  #tokenReview(body: unknown): unknown {
    const review = (body ?? {}) as { apiVersion?: string; kind?: string; spec?: { token?: unknown; audiences?: unknown } };
    if (review.kind !== undefined && review.kind !== 'TokenReview') {
      throw new StatusError(400, 'BadRequest', `the kind in the data (${review.kind}) does not match the expected kind (TokenReview)`);
    }
    const token = review.spec?.token;
    if (typeof token !== 'string' || token === '') {
      throw new StatusError(422, 'Invalid', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value', {
        group: 'authentication.k8s.io',
        kind: 'TokenReview',
        causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.token' }],
      });
    }
    const requested = Array.isArray(review.spec?.audiences) ? (review.spec.audiences as unknown[]).filter((a): a is string => typeof a === 'string') : [];
    const result = this.#reviewToken(token, requested.length > 0 ? requested : [API_AUDIENCE]);
    return {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { token, ...(requested.length > 0 ? { audiences: requested } : {}) },
      status: result.authenticated
        ? { authenticated: true, user: result.user, audiences: result.audiences }
        : { user: {}, error: result.error },
    };
  }

  /** SubjectAccessReview: may spec.user (with spec.groups) do resourceAttributes? */
  #subjectAccessReview(body: unknown): unknown {
    const spec = ((body ?? {}) as { spec?: { user?: string; groups?: string[]; uid?: string; resourceAttributes?: Record<string, string> } }).spec ?? {};
    if (!spec.user && (!spec.groups || spec.groups.length === 0)) {
      throw new StatusError(422, 'Invalid', 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified');
    }
    const subject: UserInfo = { username: spec.user ?? '', uid: spec.uid ?? '', groups: spec.groups ?? [] };
    const ra = spec.resourceAttributes;
    const allowed = subject.groups.includes('system:masters') || (ra !== undefined && this.#authorizer({
      user: subject,
      verb: ra['verb'] ?? '',
      group: ra['group'] ?? '',
      resource: ra['resource'] ?? '',
      ...(ra['namespace'] ? { namespace: ra['namespace'] } : {}),
      ...(ra['name'] ? { name: ra['name'] } : {}),
      ...(ra['subresource'] ? { subresource: ra['subresource'] } : {}),
    }));
    return { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: { allowed } };
  }

  /** pods/proxy: forwards a GET to the pod's IP (status.podIP) and port, as the real server does. */
  async #proxyToPod(res: ServerResponse, namespace: string, name: string, port: number, pathAndQuery: string): Promise<void> {
    const def = this.#defs.get('/pods');
    const pod = def ? this.#bucket(def).get(keyOf(def, namespace, name)) : undefined;
    if (!def || !pod) throw notFound(def ?? BUILTIN_RESOURCES[1] as ResourceDef, name);
    const ip = str(pod, 'status', 'podIP');
    if (!ip) throw new StatusError(503, 'ServiceUnavailable', `pod ${namespace}/${name} has no IP`);
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const up = request({ host: ip, port, path: pathAndQuery, method: 'GET', timeout: 5000 }, (r) => {
        res.writeHead(r.statusCode ?? 502, { 'Content-Type': r.headers['content-type'] ?? 'text/plain' });
        r.pipe(res);
        r.on('end', resolve);
      });
      up.on('timeout', () => up.destroy(new Error('timeout')));
      up.on('error', (err) => {
        // The real server answers 503 with a Status naming the dial error.
        sendJson(res, 503, new StatusError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${ip}:${port}: ${err.message}`).status);
        resolve();
      });
      up.end();
    });
  }

  #selfSubjectAccessReview(user: UserInfo, body: unknown): unknown {
    const spec = ((body ?? {}) as { spec?: { resourceAttributes?: Record<string, string>; nonResourceAttributes?: Record<string, string> } }).spec ?? {};
    const ra = spec.resourceAttributes;
    let allowed = user.groups.includes('system:masters');
    if (!allowed && ra) {
      allowed = this.#authorizer({
        user,
        verb: ra['verb'] ?? '',
        group: ra['group'] ?? '',
        resource: ra['resource'] ?? '',
        ...(ra['namespace'] ? { namespace: ra['namespace'] } : {}),
        ...(ra['name'] ? { name: ra['name'] } : {}),
        ...(ra['subresource'] ? { subresource: ra['subresource'] } : {}),
      });
    }
    return {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed, ...(allowed && user.groups.includes('system:masters') ? { reason: 'system:masters' } : {}) },
    };
  }
}

function keyOf(def: ResourceDef, namespace: string | undefined, name: string): string {
  return def.namespaced ? `${namespace ?? ''}/${name}` : name;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function parseBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new StatusError(400, 'BadRequest', `the object provided is unrecognized (must be of type Object): couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

function applyPatch(existing: KubeObject, contentType: string, body: Buffer): KubeObject {
  const type = contentType.split(';')[0]?.trim() ?? '';
  const patch = parseBody(body);
  if (type === 'application/json-patch+json') {
    if (!Array.isArray(patch)) throw new StatusError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    try {
      return fastJsonPatch.applyPatch(clone(existing), patch as fastJsonPatch.Operation[], true, false).newDocument;
    } catch (err) {
      throw new StatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(err as Error).message}`);
    }
  }
  // Strategic merge patch is served as a JSON merge patch (no list merge keys): good enough for
  // the label, annotation and field changes weft makes.
  if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
    return mergePatch(clone(existing), patch) as KubeObject;
  }
  throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
