// One generation of gateway configuration: the route table, the attached policies and the TLS
// contexts, built together from one set of route objects (a route file's documents or the API
// server's objects) and swapped in whole.
import { createSecureContext, type SecureContext } from 'node:tls';
import { compileRouteTable, type CertEntry, type RouteTable } from './routes/route-table.js';
import type { ParsedResources } from './routes/resources.js';
import { compilePolicies, type PolicySet, type ReadText } from './policies/policy-set.js';

/** Everything a request reads, immutable once built. */
export interface GatewayState {
  readonly table: RouteTable;
  readonly policies: PolicySet;
  /** SNI -> secure context, built once per certificate. */
  readonly contexts: ReadonlyMap<CertEntry, SecureContext>;
  readonly warnings: readonly string[];
  /** Generation number, for logs. */
  readonly generation: number;
}

/** Builds a state from read route objects (see readResources), or returns every problem. */
export function buildState(parsed: ParsedResources, file: string, generation: number, readText: ReadText): { state: GatewayState } | { problems: readonly string[] } {
  const policies = compilePolicies(parsed.resources.policies, readText);
  // Policy problems were recorded through the document readers into the same list.
  const problems = [...parsed.problems];
  const compiled = compileRouteTable(parsed.resources);
  problems.push(...compiled.problems);
  const contexts = new Map<CertEntry, SecureContext>();
  for (const c of compiled.table.certificates) {
    try {
      contexts.set(c, createSecureContext({ cert: c.certPem, key: c.keyPem, ...(c.clientCaPem ? { ca: c.clientCaPem } : {}) }));
    } catch (e) {
      problems.push(`${file}: certificate for ${c.label}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) return { problems };
  return { state: { table: compiled.table, policies, contexts, warnings: compiled.table.warnings, generation } };
}
