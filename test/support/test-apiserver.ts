// A Kubernetes API server for tests: HTTPS with its own CA, the real REST paths, list and watch
// with resourceVersions (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR as JSON lines), label and field
// selectors, TokenReview, Self/SubjectAccessReview, pods/proxy, and the Status objects the real server returns.
// Tests drive it in-process: change objects, compact history, cut or expire watches, stop and
// restart it on the same port. Its behaviour follows k8s.io/apiserver; where it simplifies, the
// comment says so.
// This file is its public face: lifecycle, in-process access and failure injection; the parts are
// under apiserver/ (resources, object-store, list, watch-hub, access-control, router, wire).
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { makeTestPki } from './pki.js';
import { issueServingMaterial } from '../../ca/serving.js';
import { AccessControl } from './apiserver/access-control.js';
import { ObjectStore } from './apiserver/object-store.js';
import { apiVersionOf, BUILTIN_RESOURCES, clone, keyOf, type KubeObject, type RequestAttributes, type ResourceDef, type TestApiServerOptions, type TokenOptions, type UserInfo } from './apiserver/resources.js';
import { Faults, type FaultAction, type FaultMatch, type RequestRecord } from './apiserver/faults.js';
import { ApiRouter } from './apiserver/router.js';
import { WatchHub } from './apiserver/watch-hub.js';

export type { FaultAction, FaultMatch, RequestRecord } from './apiserver/faults.js';
export {
  API_AUDIENCE,
  BUILTIN_RESOURCES,
  StatusError,
  type KubeMeta,
  type KubeObject,
  type KubeStatus,
  type RequestAttributes,
  type ResourceDef,
  type TestApiServerOptions,
  type TokenOptions,
  type UserInfo,
} from './apiserver/resources.js';

/** The test API server. Create with TestApiServer.start(). */
export class TestApiServer {
  readonly #opts: Required<Omit<TestApiServerOptions, 'port' | 'gitVersion'>> & { port: number };
  /** What GET /version reports; tests may change it between requests. */
  gitVersion: string;
  readonly #store: ObjectStore;
  readonly #watches: WatchHub;
  readonly #access: AccessControl;
  readonly #router: ApiRouter;
  readonly #sockets = new Set<Socket>();
  readonly #faults = new Faults();
  #resetting = false;
  #server: Server | undefined;
  #tls: { key: string; cert: string } | undefined;
  #caPem = '';
  /** Token of a cluster-admin user, for tests and kubeconfigs. */
  readonly adminToken = `admin-${randomBytes(16).toString('hex')}`;
  /** Requests received, by "VERB path" (path without query); tests use it to see re-lists. */
  readonly requests: string[] = [];
  /** Every request with its time (Date.now()), verb and resource: what tests count retries with. */
  get requestLog(): readonly RequestRecord[] {
    return this.#faults.log;
  }

  private constructor(opts: TestApiServerOptions) {
    this.#opts = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
      defaultWatchTimeoutSeconds: opts.defaultWatchTimeoutSeconds ?? 1800,
      historyLimit: opts.historyLimit ?? 100_000,
    };
    this.gitVersion = opts.gitVersion ?? 'v1.31.0';
    this.#store = new ObjectStore(this.#opts.historyLimit, (event) => this.#watches.deliver(event));
    this.#watches = new WatchHub(this.#store, { bookmarkIntervalMs: this.#opts.bookmarkIntervalMs, defaultTimeoutSeconds: this.#opts.defaultWatchTimeoutSeconds });
    this.#access = new AccessControl(this.#store);
    this.#router = new ApiRouter({
      store: this.#store,
      watches: this.#watches,
      access: this.#access,
      gitVersion: () => this.gitVersion,
      address: () => `${this.host}:${this.port}`,
      requests: this.requests,
      faults: this.#faults,
    });
    for (const def of BUILTIN_RESOURCES) this.addResource(def);
    this.#access.addUserToken(this.adminToken, { username: 'kubernetes-admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] });
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
    return String(this.#store.rv);
  }

  /** Active watch streams. */
  get watchCount(): number {
    return this.#watches.count;
  }

  /** Listens (again) on the configured port; after stop() the same port is reused. */
  async listen(): Promise<void> {
    if (this.#server) return;
    const tls = this.#tls;
    if (!tls) throw new Error('no serving certificate');
    const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => this.#router.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#router.upgrade(req, socket, head));
    // Tracked from the TCP accept, so a connection still in its TLS handshake is dropped by stop() too.
    server.on('connection', (socket: Socket) => {
      if (this.#resetting) {
        socket.resetAndDestroy();
        return;
      }
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
    this.#watches.cut();
    this.#faults.clear();
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** Alias of listen() after stop(), for readability in tests. */
  restart(): Promise<void> {
    return this.listen();
  }

  /** Serves another resource type (a CRD, or a built-in this server lacks). */
  addResource(def: ResourceDef): void {
    this.#store.addResource(def);
  }

  /**
   * Stops serving kinds, as a cluster without a CRD or an API version does: every resource of
   * `apiVersion` ("group/version", or "v1" for the core group), or only `resource` (plural) in it.
   * Lists, watches and gets then answer 404 NotFound and discovery leaves them out; open watches of
   * them end. Objects are kept: serveResource (or addResource) serves them again. Returns the
   * removed types.
   */
  removeResource(apiVersion: string, resource?: string): ResourceDef[] {
    const removed = this.#store.defs().filter((d) => apiVersionOf(d) === apiVersion && (resource === undefined || d.resource === resource));
    for (const def of removed) {
      this.#store.removeResource(def);
      this.#watches.endFor(def);
    }
    return removed;
  }

  /** Serves again types that removeResource returned (a CRD installed later). */
  serveResource(defs: readonly ResourceDef[]): void {
    for (const def of defs) this.addResource(def);
  }

  /** Replaces the authorizer (default: every authenticated user may do everything). */
  setAuthorizer(authorize: (attrs: RequestAttributes) => boolean): void {
    this.#access.setAuthorizer(authorize);
  }

  /** Registers a static bearer token for a user. */
  addUserToken(token: string, user: UserInfo): void {
    this.#access.addUserToken(token, user);
  }

  /**
   * Issues a projected service-account token (a signed JWT like the kubelet's); the namespace and
   * the ServiceAccount are created when missing, as they exist for any real pod.
   */
  issueToken(opts: TokenOptions): string {
    return this.#access.issueToken(opts);
  }

  /** A JWT with the same shape as issueToken's but signed by another key: what a forger holds. */
  forgeToken(opts: TokenOptions): string {
    return this.#access.forgeToken(opts);
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
    return this.#store.create(this.#store.defFor(obj), obj, { keepStatus: true });
  }

  /** Replaces an object (status included); throws 404 when missing. */
  update(obj: KubeObject): KubeObject {
    const def = this.#store.defFor(obj);
    return this.#store.update(def, { ...obj, metadata: { ...obj.metadata, resourceVersion: undefined } }, 'all');
  }

  /** Creates or replaces. */
  apply(obj: KubeObject): KubeObject {
    const def = this.#store.defFor(obj);
    const existing = this.#store.bucket(def).get(keyOf(def, obj.metadata.namespace, obj.metadata.name ?? ''));
    return existing ? this.update(obj) : this.create(obj);
  }

  /** Deletes an object; throws 404 when missing. */
  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject {
    const def = this.#store.defByKind(apiVersion, kind);
    return this.#store.delete(def, def.namespaced ? namespace : undefined, name);
  }

  /** The stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.#store.find(apiVersion, kind, namespace, name);
    return obj ? clone(obj) : undefined;
  }

  /** Stored objects of a kind, optionally in one namespace. */
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const def = this.#store.defByKind(apiVersion, kind);
    return [...this.#store.bucket(def).values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace).map(clone);
  }

  // ---- failure injection ----

  /** Forgets the history up to now, as etcd compaction does: watches from older versions get 410. */
  compact(): void {
    this.#store.compact();
  }

  /** Drops every watch connection without a word (a network cut or an API server crash). */
  cutWatches(): void {
    this.#watches.cut();
  }

  /** Ends every watch with ERROR 410 Expired and compacts, as a watch cache that fell behind does. */
  expireWatches(): void {
    this.compact();
    this.#watches.expire();
  }

  /** Sends a BOOKMARK now to every watch that asked for them. */
  sendBookmarks(): void {
    this.#watches.sendBookmarks();
  }

  /**
   * Gives the next `count` requests matching `match` (every one until clearFaults, by default) a
   * fault instead of their answer: `{kind:'hang'}` never sends response headers; `{kind:'status',
   * code, retryAfterSeconds?}` answers that Status (a watch's 410 comes as an ERROR event in a 200
   * stream, as from the real server; 429/503 carry Retry-After).
   */
  injectFault(action: FaultAction, match: FaultMatch = {}, count = Infinity): void {
    this.#faults.add(action, match, count);
  }

  /** Ends every injected fault; requests held without headers are reset. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** Requests held without headers right now (by a 'hang' fault). */
  get heldRequests(): number {
    return this.#faults.heldCount;
  }

  /** Requests still to be given a fault (Infinity while an uncounted fault is active). */
  get pendingFaults(): number {
    return this.#faults.pending;
  }

  /**
   * Lists that name a `limit` get at most this many items a page, with a continue token (0: as
   * asked); lists without `limit` are never paged, as on a real server.
   */
  set maxPageSize(n: number) {
    this.#faults.maxPageSize = n;
  }

  get maxPageSize(): number {
    return this.#faults.maxPageSize;
  }

  /**
   * A full outage until endOutage(): 'refuse' stops listening (connections refused); 'reset'
   * keeps listening but resets every connection at once. Open connections drop either way.
   */
  async startOutage(mode: 'refuse' | 'reset' = 'refuse'): Promise<void> {
    if (mode === 'refuse') {
      await this.stop();
      return;
    }
    this.#resetting = true;
    this.#watches.cut();
    this.#faults.clear();
    for (const s of this.#sockets) s.resetAndDestroy();
  }

  /** Ends an outage: serves again on the same port. */
  async endOutage(): Promise<void> {
    this.#resetting = false;
    await this.listen();
  }
}
