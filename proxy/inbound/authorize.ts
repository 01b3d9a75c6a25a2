// The inbound authorization step (docs/policy.md): holds the pod's compiled decision function,
// replaced whole on every policy change (open connections stay; their next request gets the new
// answer), answers each request or opaque connection, counts and logs decisions, and serves
// GET /debug/authz ("would this identity be allowed, and by which rule").
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from '../../lib/metrics-client.js';
import { WeftError } from '../../lib/errors.js';
import { compileAuthorizer, type Authorizer, type Decision, type PodTarget } from '../../mesh/authz/decide.js';
import type { PolicySource } from '../../mesh/authz/policy-source.js';
import type { Logger } from '../../lib/logger.js';

/** What the authorization step needs. */
export interface InboundAuthzDeps {
  readonly source: PolicySource;
  readonly pod: PodTarget;
  readonly registry: Registry;
  readonly log: Logger;
}

/** The admin path of the explain endpoint. */
export const AUTHZ_DEBUG_PATH = '/debug/authz';

// Until the source has answered, nothing is allowed: a pod never serves before its policies are known.
const NOT_LOADED: Authorizer = {
  decide: () => NOT_LOADED_DECISION,
  policies: [],
  defaultPolicy: 'deny',
};
const NOT_LOADED_DECISION: Decision = Object.freeze({ allowed: false, policy: 'not-loaded', rule: -1, reason: 'authorization policies are not loaded yet', audit: undefined });

/** The inbound side's authorization: check() per request or connection, explain() for people. */
export class InboundAuthz {
  readonly #deps: InboundAuthzDeps;
  #authorizer: Authorizer = NOT_LOADED;
  // Plain counts on the hot path, keyed by the shared decision objects; published at scrape time.
  #counts = new Map<Decision, number>();
  readonly #totals = new Map<string, number>();
  readonly #stop: () => void;

  constructor(deps: InboundAuthzDeps) {
    this.#deps = deps;
    const counts = this.#fold.bind(this);
    new Counter({
      name: 'weft_authz_decisions_total',
      help: 'Inbound authorization decisions, by decision (allow, deny, audit: an AUDIT policy would have denied) and the deciding policy.',
      labelNames: ['decision', 'policy'],
      registers: [deps.registry],
      collect() {
        this.reset();
        for (const [key, n] of counts()) {
          const [decision = '', policy = ''] = key.split('\u0000');
          this.inc({ decision, policy }, n);
        }
      },
    });
    this.#stop = deps.source.watch(deps.pod.namespace, (set) => {
      const started = performance.now();
      const authorizer = compileAuthorizer(set, deps.pod);
      this.#fold();
      this.#authorizer = authorizer;
      deps.log.info(
        { policies: authorizer.policies, defaultPolicy: authorizer.defaultPolicy, compileMs: Number((performance.now() - started).toFixed(3)) },
        'authorization policies compiled',
      );
    });
  }

  /** True once the pod's policies are known (feeds /ready). */
  get loaded(): boolean {
    return this.#authorizer !== NOT_LOADED;
  }

  /** The decision, without counting or logging it. */
  explain(peer: string, port: number, method: string | undefined, path: string | undefined): Decision {
    return this.#authorizer.decide(peer, port, method, path);
  }

  /**
   * Decides one request (method and path) or opaque connection (neither): undefined to let it
   * through, or the WEFT_ERR_FORBIDDEN to answer it with. Counts it and logs denials and audits.
   */
  check(peer: string, port: number, method: string | undefined, path: string | undefined): WeftError | undefined {
    const decision = this.#authorizer.decide(peer, port, method, path);
    this.#counts.set(decision, (this.#counts.get(decision) ?? 0) + 1);
    if (decision.audit !== undefined) {
      this.#deps.log.warn({ peer, port, method, path, policy: decision.audit, allowed: decision.allowed }, 'AUDIT: authorization policy would deny');
    }
    if (decision.allowed) return undefined;
    this.#deps.log.warn({ code: 'WEFT_ERR_FORBIDDEN', peer, port, method, path, policy: decision.policy, rule: decision.rule, reason: decision.reason }, 'denied by authorization policy');
    return new WeftError('WEFT_ERR_FORBIDDEN', `${peer || 'the peer'} may not ${method === undefined ? 'connect to' : `${method} ${path ?? ''} on`} port ${port}: ${decision.reason}`);
  }

  /** GET /debug/authz?identity=spiffe://...&port=8080[&method=GET&path=/x]: the decision as JSON. */
  handleDebug(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const identity = url.searchParams.get('identity') ?? '';
    const portText = url.searchParams.get('port') ?? '';
    const method = url.searchParams.get('method') ?? undefined;
    const path = url.searchParams.get('path') ?? (method === undefined ? undefined : '/');
    const port = Number(portText);
    if (identity === '' || !/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
      const body = JSON.stringify({ code: 'WEFT_ERR_BAD_REQUEST', message: 'expected ?identity=<spiffe ID>&port=<app port>[&method=GET&path=/x] (no method: an opaque TCP connection)' });
      res.writeHead(400, { 'content-type': 'application/json', 'weft-error': 'WEFT_ERR_BAD_REQUEST' });
      res.end(body + '\n');
      return;
    }
    const d = this.explain(identity, port, method?.toUpperCase(), path);
    const body = { identity, port, method: method?.toUpperCase() ?? null, path: path ?? null, allowed: d.allowed, policy: d.policy, rule: d.rule, reason: d.reason, audit: d.audit ?? null, policies: this.#authorizer.policies, defaultPolicy: this.#authorizer.defaultPolicy };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body, null, 2) + '\n');
  }

  // Moves the per-decision counts into the totals by (decision, policy); returns the totals.
  #fold(): Map<string, number> {
    const add = (key: string, n: number): void => void this.#totals.set(key, (this.#totals.get(key) ?? 0) + n);
    for (const [d, n] of this.#counts) {
      add(`${d.allowed ? 'allow' : 'deny'}\u0000${d.policy}`, n);
      if (d.audit !== undefined) add(`audit\u0000${d.audit}`, n);
    }
    // Decisions of a replaced authorizer are never seen again; keep only their totals.
    this.#counts = new Map();
    return this.#totals;
  }

  /** Stops following the source. */
  close(): void {
    this.#stop();
  }
}
