// One generation of gateway configuration: the route table, the attached policies and the TLS
// contexts, built together from one set of route objects (a route file's documents or the API
// server's objects) and swapped in whole.
import { createSecureContext, type SecureContext } from 'node:tls';
import { compileRouteTable, type CertCheck, type CertEntry, type RouteTable } from './routes/route-table.js';
import type { ObjectCondition } from './routes/conditions.js';
import type { ParsedResources } from './routes/resources.js';
import { compilePolicies, type PolicySet, type ReadText } from './policies/policy-set.js';
import { compileConsumers, CONSUMER_KINDS, type ConsumerDirectory } from './consumers/directory.js';

/** Everything a request reads, immutable once built. */
export interface GatewayState {
  readonly table: RouteTable;
  readonly policies: PolicySet;
  /** Consumers, their keys and plans (Consumer and Plan objects). */
  readonly consumers: ConsumerDirectory;
  /** SNI -> secure context, built once per certificate. */
  readonly contexts: ReadonlyMap<CertEntry, SecureContext>;
  readonly warnings: readonly string[];
  /** Objects left out whole (Rejected) or in part (Degraded), with their reasons: what a status writer reports. */
  readonly conditions: readonly ObjectCondition[];
  /** Generation number, for logs. */
  readonly generation: number;
}

/** How buildState judges a set. */
export interface BuildOptions {
  /**
   * Kubernetes mode: an object that cannot be used is left out alone (a condition says why) and the
   * state is built from the rest. Without it (a route file) any problem refuses the whole set.
   */
  readonly perObject?: boolean;
}

/** Builds a state from read route objects (see readResources), or returns every problem. */
export function buildState(parsed: ParsedResources, file: string, generation: number, readText: ReadText, opts: BuildOptions = {}): { state: GatewayState } | { problems: readonly string[] } {
  const conditions: ObjectCondition[] = [...parsed.conditions];
  const docs = parsed.resources.policies;
  const policies = compilePolicies(docs.filter((d) => !CONSUMER_KINDS.includes(d.kind)), readText, conditions);
  const consumers = compileConsumers(docs.filter((d) => CONSUMER_KINDS.includes(d.kind)), parsed.resources.secrets, conditions);
  // Policy problems were recorded through the document readers into the same list.
  const problems = [...parsed.problems];
  // Each distinct certificate gets one secure context; one that node cannot load leaves out only
  // the listener (or Ingress TLS entry) that names it.
  const made = new Map<string, SecureContext>();
  const pemKey = (c: Parameters<CertCheck>[0]): string => `${c.certPem}\0${c.keyPem}\0${c.clientCaPem ?? ''}`;
  const checkCert: CertCheck = (c) => {
    const key = pemKey(c);
    if (made.has(key)) return undefined;
    try {
      made.set(key, createSecureContext({ cert: c.certPem, key: c.keyPem, ...(c.clientCaPem ? { ca: c.clientCaPem } : {}) }));
      return undefined;
    } catch (e) {
      return `the certificate cannot be loaded: ${(e as Error).message}`;
    }
  };
  const compiled = compileRouteTable(parsed.resources, checkCert);
  problems.push(...compiled.problems);
  conditions.push(...compiled.conditions);
  const contexts = new Map<CertEntry, SecureContext>();
  for (const c of compiled.table.certificates) {
    const ctx = made.get(pemKey(c));
    if (ctx) contexts.set(c, ctx);
    else problems.push(`${file}: certificate for ${c.label} was not loaded`);
  }
  if (problems.length > 0 && !opts.perObject) return { problems };
  return { state: { table: compiled.table, policies, consumers, contexts, warnings: compiled.table.warnings, conditions, generation } };
}
