// Consumers and plans (weft.dev/v1alpha1 Consumer and Plan): parsed from their documents and the
// Secrets that hold their key hashes into one immutable directory per configuration generation,
// which answers "whose key is this", "whose token is this" and "which quota windows apply here".
import type { Json } from '../routes/field-reader.js';
import type { ObjectCondition } from '../routes/conditions.js';
import type { PolicyDoc, SecretSpec } from '../routes/resources.js';
import type { RouteRef } from '../routes/route-table.js';

/** The kinds this module reads (they come in with the policy documents). */
export const CONSUMER_KINDS: readonly string[] = ['Consumer', 'Plan'];

/** Named windows of a plan limit; a month is 30 days (a sliding window has no calendar). */
export const WINDOW_MS: Readonly<Record<string, number>> = Object.freeze({
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  month: 30 * 86_400_000,
});

/** One limit of a plan: at most `requests` in any `windowMs` (sliding). */
export interface QuotaWindow {
  readonly requests: number;
  readonly windowMs: number;
  /** "minute", "day", ...: the window's name in headers, metrics and usage reports. */
  readonly name: string;
}

/** A parsed Plan. */
export interface Plan {
  readonly namespace: string;
  readonly name: string;
  readonly limits: readonly QuotaWindow[];
  /** Routes the plan covers ("kind/namespace/name"); undefined: every route. */
  readonly routes: ReadonlySet<string> | undefined;
}

/** A parsed Consumer, with its plan resolved. */
export interface Consumer {
  readonly namespace: string;
  /** The consumer's name: the metrics label, the upstream header, the quota key. */
  readonly name: string;
  readonly plan: Plan | undefined;
}

/** Everything one generation knows about consumers. */
export interface ConsumerDirectory {
  /** sha256 hex of a key -> its consumer. */
  readonly byKeyHash: ReadonlyMap<string, Consumer>;
  /** JWT `sub` -> consumer. */
  readonly bySubject: ReadonlyMap<string, Consumer>;
  /** "claim\0value" -> consumer, for the claims in `claimNames`. */
  readonly byClaim: ReadonlyMap<string, Consumer>;
  readonly claimNames: readonly string[];
  readonly consumers: readonly Consumer[];
  readonly plans: readonly Plan[];
}

/** An empty directory (no Consumer objects). */
export const NO_CONSUMERS: ConsumerDirectory = Object.freeze({ byKeyHash: new Map(), bySubject: new Map(), byClaim: new Map(), claimNames: [], consumers: [], plans: [] });

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The route key a Plan's `routes` list is matched against. */
export function routeKey(r: Pick<RouteRef, 'kind' | 'namespace' | 'name'>): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

/** The quota windows that apply to `consumer` on `route` (none when its plan does not cover it). */
export function windowsFor(consumer: Consumer | undefined, route: RouteRef | undefined): readonly QuotaWindow[] {
  const plan = consumer?.plan;
  if (!plan || !route) return [];
  if (plan.routes && !plan.routes.has(routeKey(route))) return [];
  return plan.limits;
}

/**
 * Reads the Consumer and Plan documents (problems go to each document's reader; an object with a
 * problem is left out, with a Rejected condition) and the key hashes in the Secrets they name.
 * A Secret that is absent gives no keys and a Degraded condition: the consumer's other keys and
 * its JWT mapping stay in force.
 */
export function compileConsumers(docs: readonly PolicyDoc[], secrets: readonly SecretSpec[], conditions: ObjectCondition[]): ConsumerDirectory {
  const plans = new Map<string, Plan>();
  for (const d of docs.filter((x) => x.kind === 'Plan')) {
    const plan = readPlan(d);
    if (reject(d, conditions)) continue;
    plans.set(`${d.meta.namespace}/${d.meta.name}`, plan);
  }
  const secretsByName = new Map(secrets.map((s) => [`${s.meta.namespace}/${s.meta.name}`, s]));
  const byKeyHash = new Map<string, Consumer>();
  const bySubject = new Map<string, Consumer>();
  const byClaim = new Map<string, Consumer>();
  const claimNames = new Set<string>();
  const consumers: Consumer[] = [];
  const names = new Map<string, string>();
  for (const d of docs.filter((x) => x.kind === 'Consumer')) {
    const r = d.reader;
    const spec = d.spec;
    const where = `${d.meta.namespace}/${d.meta.name}`;
    r.known(spec, 'spec', ['plan', 'apiKeys', 'jwt']);
    const planName = r.str(spec, 'plan', 'spec');
    const plan = planName === undefined ? undefined : plans.get(`${d.meta.namespace}/${planName}`);
    if (planName !== undefined && !plan) r.problem('spec.plan', `Plan ${d.meta.namespace}/${planName} does not exist or was rejected`);
    const other = names.get(d.meta.name);
    if (other !== undefined) r.problem('metadata.name', `a consumer is named by its name alone, and Consumer ${other} has it already`);
    const consumer: Consumer = { namespace: d.meta.namespace, name: d.meta.name, plan };
    const hashes: string[] = [];
    const missing: string[] = [];
    r.objs(spec, 'apiKeys', 'spec').forEach((k, i) => {
      const path = `spec.apiKeys[${i}]`;
      r.known(k, path, ['keySha256', 'secretRef']);
      const inline = r.str(k, 'keySha256', path);
      const ref = r.obj(k, 'secretRef', path);
      if ((inline === undefined) === (ref === undefined)) r.problem(path, 'set keySha256 or secretRef, one of them');
      if (inline !== undefined) {
        if (SHA256_HEX.test(inline)) hashes.push(inline);
        else r.problem(`${path}.keySha256`, 'must be 64 lowercase hex characters (sha256 of the key)');
      }
      if (ref) {
        r.known(ref, `${path}.secretRef`, ['name']);
        const name = r.str(ref, 'name', `${path}.secretRef`, { required: true });
        if (name === undefined) return;
        const secret = secretsByName.get(`${d.meta.namespace}/${name}`);
        if (!secret) {
          missing.push(`${path}.secretRef: Secret ${d.meta.namespace}/${name} was not found; its keys are not accepted`);
          return;
        }
        // Every entry of the Secret is one key's hash; the entry names are free (key ids).
        for (const [entry, value] of Object.entries(secret.data)) {
          const hash = value.trim().toLowerCase();
          if (SHA256_HEX.test(hash)) hashes.push(hash);
          else missing.push(`${path}.secretRef: Secret ${d.meta.namespace}/${name} entry ${JSON.stringify(entry)} is not a sha256 hex; it is not accepted`);
        }
      }
    });
    const jwt = r.obj(spec, 'jwt', 'spec');
    const subjects = jwt ? r.strs(jwt, 'subjects', 'spec.jwt') : [];
    const claims: [string, string][] = [];
    if (jwt) {
      r.known(jwt, 'spec.jwt', ['subjects', 'claims']);
      r.objs(jwt, 'claims', 'spec.jwt').forEach((c, i) => {
        const name = r.str(c, 'name', `spec.jwt.claims[${i}]`, { required: true });
        const value = r.str(c, 'value', `spec.jwt.claims[${i}]`, { required: true });
        if (name !== undefined && value !== undefined) claims.push([name, value]);
      });
    }
    for (const h of hashes) {
      const owner = byKeyHash.get(h);
      if (owner && owner !== consumer) r.problem('spec.apiKeys', `a key is given to Consumer ${owner.namespace}/${owner.name} already`);
    }
    for (const s of subjects) if (bySubject.has(s)) r.problem('spec.jwt.subjects', `subject ${JSON.stringify(s)} is mapped to another consumer already`);
    if (reject(d, conditions)) continue;
    names.set(d.meta.name, where);
    consumers.push(consumer);
    for (const h of hashes) byKeyHash.set(h, consumer);
    for (const s of subjects) bySubject.set(s, consumer);
    for (const [name, value] of claims) {
      claimNames.add(name);
      byClaim.set(`${name}\0${value}`, consumer);
    }
    if (missing.length > 0) conditions.push({ kind: 'Consumer', namespace: d.meta.namespace, name: d.meta.name, type: 'Degraded', reasons: missing });
  }
  return { byKeyHash, bySubject, byClaim, claimNames: [...claimNames], consumers, plans: [...plans.values()] };
}

/** The consumer a verified token's claims name, if any: `sub` first, then the mapped claims. */
export function consumerOfClaims(dir: ConsumerDirectory, claims: Readonly<Record<string, unknown>>): Consumer | undefined {
  const sub = claims.sub;
  if (typeof sub === 'string') {
    const c = dir.bySubject.get(sub);
    if (c) return c;
  }
  for (const name of dir.claimNames) {
    const v = claims[name];
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) {
      if (typeof one !== 'string') continue;
      const c = dir.byClaim.get(`${name}\0${one}`);
      if (c) return c;
    }
  }
  return undefined;
}

function readPlan(d: PolicyDoc): Plan {
  const r = d.reader;
  const spec: Json = d.spec;
  r.known(spec, 'spec', ['limits', 'routes']);
  const limits: QuotaWindow[] = [];
  const seen = new Set<string>();
  r.objs(spec, 'limits', 'spec', { required: true, max: 8 }).forEach((l, i) => {
    const path = `spec.limits[${i}]`;
    r.known(l, path, ['requests', 'per']);
    const requests = r.int(l, 'requests', path, { required: true, min: 1, max: 1_000_000_000 });
    const per = r.str(l, 'per', path, { required: true, oneOf: Object.keys(WINDOW_MS) });
    if (per !== undefined && seen.has(per)) r.problem(`${path}.per`, `a second limit per ${per}`);
    if (requests === undefined || per === undefined) return;
    seen.add(per);
    limits.push({ requests, windowMs: WINDOW_MS[per] ?? 60_000, name: per });
  });
  if (limits.length === 0 && r.problems.length === 0) r.problem('spec.limits', 'needs at least one limit');
  let routes: Set<string> | undefined;
  if (spec.routes !== undefined) {
    routes = new Set();
    r.objs(spec, 'routes', 'spec').forEach((x, i) => {
      const path = `spec.routes[${i}]`;
      r.known(x, path, ['kind', 'name', 'namespace']);
      const kind = r.str(x, 'kind', path, { oneOf: ['HTTPRoute', 'Ingress'] }) ?? 'HTTPRoute';
      const name = r.str(x, 'name', path, { required: true });
      const namespace = r.str(x, 'namespace', path) ?? d.meta.namespace;
      if (name !== undefined) routes?.add(`${kind}/${namespace}/${name}`);
    });
  }
  // Shortest window first: the order headers and usage reports list them in.
  limits.sort((a, b) => a.windowMs - b.windowMs);
  return { namespace: d.meta.namespace, name: d.meta.name, limits, routes };
}

// Records a Rejected condition when the document has problems; true when it does.
function reject(d: PolicyDoc, conditions: ObjectCondition[]): boolean {
  const problems = d.reader.problems;
  if (problems.length === 0) return false;
  const { namespace, name, generation } = d.meta;
  conditions.push({ kind: d.kind, namespace, name, ...(generation === undefined ? {} : { generation }), type: 'Rejected', reasons: problems });
  return true;
}
