// The HTTP face of the test API server: health and version, discovery, the REST paths of every
// served type (verbs mapped and authorized as the real server maps them), the review APIs, and
// pods/proxy and pods/portforward. Storage, watches and access control live in their own files.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { portForwardPath, refuseUpgrade, servePortForward } from './port-forward.js';
import type { AccessControl } from './access-control.js';
import type { Faults, RequestRecord } from './faults.js';
import { FieldOwners, managerOf } from './field-owners.js';
import { serveList } from './list.js';
import type { ObjectStore } from './object-store.js';
import { BUILTIN_RESOURCES, keyOf, notFound, str, StatusError, type KubeObject, type ResourceDef } from './resources.js';
import type { WatchHub } from './watch-hub.js';
import { applyPatch, parseBody, parseObjectBody, sendJson } from './wire.js';

/** What the router answers from. */
export interface RouterDeps {
  readonly store: ObjectStore;
  readonly watches: WatchHub;
  readonly access: AccessControl;
  /** What GET /version reports, read per request (tests may change it). */
  gitVersion(): string;
  /** host:port, for /api's serverAddressByClientCIDRs. */
  address(): string;
  /** Requests received, by "VERB path", appended to. */
  readonly requests: string[];
  /** Injected faults and the timed request log. */
  readonly faults: Faults;
}

/** Answers each request of the test API server. */
export class ApiRouter {
  readonly #deps: RouterDeps;
  readonly #store: ObjectStore;
  readonly #watches: WatchHub;
  readonly #access: AccessControl;
  /** Field ownership for server-side apply. */
  readonly fieldOwners = new FieldOwners();

  constructor(deps: RouterDeps) {
    this.#deps = deps;
    this.#store = deps.store;
    this.#watches = deps.watches;
    this.#access = deps.access;
  }

  /** Reads the body, then answers; a thrown StatusError becomes its Status response. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://apiserver');
      this.#deps.requests.push(`${req.method ?? 'GET'} ${url.pathname}${url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' ? '?watch' : ''}`);
      const record: RequestRecord = { at: Date.now(), method: req.method ?? 'GET', path: url.pathname, query: url.search.replace(/^\?/, ''), verb: undefined, resource: undefined };
      this.#deps.faults.log.push(record);
      void this.#route(req, res, url, Buffer.concat(chunks), record).catch((err: unknown) => {
        const status = err instanceof StatusError ? err.status : new StatusError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).status;
        if (res.headersSent) {
          res.destroy();
          return;
        }
        sendJson(res, status.code, status);
      });
    });
  }

  /** An upgrade request: pods/portforward over WebSocket; anything else is refused with a Status. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const url = new URL(req.url ?? '/', 'https://apiserver');
      this.#deps.requests.push(`UPGRADE ${url.pathname}`);
      const user = this.#access.authenticate(req);
      if (!user) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
      const target = portForwardPath(url);
      if (!target) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
      this.#access.authorize(user, 'create', '', 'pods', target.namespace, target.pod, 'portforward');
      const def = this.#store.defByPath('', 'pods');
      const pod = def ? this.#store.bucket(def).get(keyOf(def, target.namespace, target.pod)) : undefined;
      if (!def || !pod) throw notFound(def ?? (BUILTIN_RESOURCES[1] as ResourceDef), target.pod);
      const ip = str(pod, 'status', 'podIP');
      if (!ip) throw new StatusError(400, 'BadRequest', `pod ${target.namespace}/${target.pod} has no IP`);
      servePortForward(req, socket, head, ip, target.port);
    } catch (err) {
      refuseUpgrade(socket, err);
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, record: RequestRecord): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (method === 'GET' && (path === '/healthz' || path === '/livez' || path === '/readyz')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (method === 'GET' && path === '/version') {
      const [major = '', minor = ''] = this.#deps.gitVersion().replace(/^v/, '').split('.');
      sendJson(res, 200, {
        major, minor, gitVersion: this.#deps.gitVersion(), gitCommit: '9edcffcde5595e8a5b1a35f88c421764e575afce',
        gitTreeState: 'clean', buildDate: '2024-08-13T07:28:49Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64',
      });
      return;
    }
    const user = this.#access.authenticate(req);
    if (!user) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    if (method === 'GET' && this.#discovery(res, path)) return;
    const podProxy = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+):(\d+)\/proxy(\/.*)?$/.exec(path);
    if (podProxy && method === 'GET') {
      const [, ns = '', pod = '', port = '', rest = '/'] = podProxy;
      this.#access.authorize(user, 'get', '', 'pods', ns, pod, 'proxy');
      await this.#proxyToPod(res, ns, pod, Number(port), rest + url.search, req.socket.remoteAddress ?? '');
      return;
    }

    const target = this.#parsePath(path);
    if (!target) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    const { group, version, namespace, resource, name, subresource } = target;

    if (group === 'authentication.k8s.io' && version === 'v1' && resource === 'tokenreviews' && !name && method === 'POST') {
      this.#access.authorize(user, 'create', group, resource, undefined, undefined);
      this.#deps.faults.classify(record, 'create', resource);
      if (this.#deps.faults.intercept(res, 'create', resource, undefined)) return;
      sendJson(res, 201, this.#access.tokenReview(parseBody(body)));
      return;
    }
    if (group === 'authorization.k8s.io' && version === 'v1' && resource === 'subjectaccessreviews' && !name && method === 'POST') {
      this.#access.authorize(user, 'create', group, resource, undefined, undefined);
      sendJson(res, 201, this.#access.subjectAccessReview(parseBody(body)));
      return;
    }
    if (group === 'authorization.k8s.io' && version === 'v1' && resource === 'selfsubjectaccessreviews' && !name && method === 'POST') {
      sendJson(res, 201, this.#access.selfSubjectAccessReview(user, parseBody(body)));
      return;
    }
    const def = this.#store.defByPath(group, resource);
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
    this.#access.authorize(user, verb, group, resource, namespace, name, subresource);
    this.#deps.faults.classify(record, verb, resource);
    if (this.#deps.faults.intercept(res, verb, resource, def, url.searchParams.has('continue'))) return;
    const ns = def.namespaced ? namespace : undefined;
    switch (verb) {
      case 'get': {
        const obj = this.#store.bucket(def).get(keyOf(def, ns, name ?? ''));
        if (!obj || (def.namespaced && ns === undefined)) throw notFound(def, name ?? '');
        sendJson(res, 200, obj);
        return;
      }
      case 'list':
        await serveList(this.#store, res, def, ns, q, this.#deps.faults.maxPageSize);
        return;
      case 'watch':
        this.#watches.serve(res, def, ns, q);
        return;
      case 'create': {
        if (def.namespaced && ns === undefined) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
        const created = this.#store.create(def, parseObjectBody(body, req.headers['content-type']), { keepStatus: false, ...(ns === undefined ? {} : { namespace: ns }) });
        this.fieldOwners.recordWrite(managerOf(q.get('fieldManager'), req.headers['user-agent']), undefined, created);
        sendJson(res, 201, created);
        return;
      }
      case 'update': {
        const before = this.#store.bucket(def).get(keyOf(def, ns, name ?? ''));
        const updated = this.#store.update(def, parseObjectBody(body, req.headers['content-type']), subresource === 'status' ? 'status' : 'main', ns, name);
        this.fieldOwners.recordWrite(managerOf(q.get('fieldManager'), req.headers['user-agent']), before, updated);
        sendJson(res, 200, updated);
        return;
      }
      case 'patch': {
        const existing = this.#store.bucket(def).get(keyOf(def, ns, name ?? ''));
        const contentType = req.headers['content-type'] ?? '';
        if (contentType.split(';')[0]?.trim() === 'application/apply-patch+yaml') {
          sendJson(res, existing ? 200 : 201, this.#serverSideApply(def, ns, name ?? '', existing, body, q));
          return;
        }
        if (!existing) throw notFound(def, name ?? '');
        const patched = applyPatch(existing, contentType, body);
        patched.metadata.resourceVersion = patched.metadata.resourceVersion ?? undefined;
        const updated = this.#store.update(def, patched, subresource === 'status' ? 'status' : 'main', ns, name);
        this.fieldOwners.recordWrite(managerOf(q.get('fieldManager'), req.headers['user-agent']), existing, updated);
        sendJson(res, 200, updated);
        return;
      }
      case 'delete':
        sendJson(res, 200, this.#store.delete(def, ns, name ?? ''));
        return;
    }
  }

  /** A server-side apply: creates the object when it is missing, else applies with field ownership. */
  #serverSideApply(def: ResourceDef, ns: string | undefined, name: string, existing: KubeObject | undefined, body: Buffer, q: URLSearchParams): KubeObject {
    const manager = q.get('fieldManager');
    if (manager === null || manager === '') {
      throw new StatusError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    }
    // Clients send apply configurations as JSON (which is YAML); block-style YAML is not read here.
    const config = parseBody(body) as KubeObject;
    if (!config || typeof config !== 'object' || typeof config.metadata !== 'object') throw new StatusError(400, 'BadRequest', 'the apply configuration has no metadata');
    if (config.metadata.name !== name) throw new StatusError(400, 'BadRequest', `the name of the object (${String(config.metadata.name)}) does not match the name on the URL (${name})`);
    if (!existing) {
      const created = this.#store.create(def, config, { keepStatus: false, ...(ns === undefined ? {} : { namespace: ns }) });
      this.fieldOwners.recordApplyCreate(manager, created, config);
      return created;
    }
    const next = this.fieldOwners.apply(existing, config, manager, q.get('force') === 'true');
    return this.#store.update(def, next, 'main', ns, name);
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
    const defs = this.#store.defs();
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
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.#deps.address() }] });
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

  /**
   * pods/proxy: forwards a GET to the pod's IP (status.podIP) and port, as the real server does,
   * which (Go's httputil.ReverseProxy) adds the caller's address as X-Forwarded-For.
   */
  async #proxyToPod(res: ServerResponse, namespace: string, name: string, port: number, pathAndQuery: string, caller: string): Promise<void> {
    const def = this.#store.defByPath('', 'pods');
    const pod = def ? this.#store.bucket(def).get(keyOf(def, namespace, name)) : undefined;
    if (!def || !pod) throw notFound(def ?? BUILTIN_RESOURCES[1] as ResourceDef, name);
    const ip = str(pod, 'status', 'podIP');
    if (!ip) throw new StatusError(503, 'ServiceUnavailable', `pod ${namespace}/${name} has no IP`);
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const up = request({ host: ip, port, path: pathAndQuery, method: 'GET', timeout: 5000, headers: { 'x-forwarded-for': caller.replace(/^::ffff:/, '') } }, (r) => {
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
}
