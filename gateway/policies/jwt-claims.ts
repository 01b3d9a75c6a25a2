// What a JwtPolicy demands of a verified token beyond its signature: required claims (present,
// an exact value, or one of a list) and required OAuth scopes (`scope` as a space-separated string,
// `scp` as a list), parsed with precise problems and checked by one pure function.
import type { FieldReader, Json } from '../routes/field-reader.js';
import { HEADER_NAME } from '../routes/filter-specs.js';

/** One required claim: present, and when `anyOf` is set, equal to one of its values. */
export interface ClaimRequirement {
  /** A top-level claim name, as in the token's payload. */
  readonly claim: string;
  /** Accepted values; undefined means any value will do as long as the claim is there. */
  readonly anyOf?: readonly string[];
}

/** Everything a policy requires of the token's claims. */
export interface ClaimRules {
  readonly claims: readonly ClaimRequirement[];
  /** Every one of these must be among the token's scopes. */
  readonly scopes: readonly string[];
}

/** Why a verified token is still refused; `scope` lists the missing scopes (for WWW-Authenticate). */
export type ClaimVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly missingScopes: readonly string[] };

const OK: ClaimVerdict = Object.freeze({ ok: true });

// RFC 6749 scope-token: printable ASCII except space, double quote and backslash.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

// Headers a claim must never be copied into: they steer routing, framing or the mesh itself.
const FORBIDDEN_TARGETS = new Set(['host', 'authorization', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'proxy-authorization']);

/** The claim value as the strings it can match: a scalar as its text, a list element by element. */
function claimStrings(v: unknown): readonly string[] {
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) return v.flatMap((e) => (typeof e === 'string' || typeof e === 'number' || typeof e === 'boolean' ? [String(e)] : []));
  return [];
}

/** The scopes a token grants: `scope` split on spaces and `scp` (a list, or a space-separated string). */
export function tokenScopes(payload: Readonly<Record<string, unknown>>): Set<string> {
  const out = new Set<string>();
  for (const key of ['scope', 'scp'] as const) {
    const v = payload[key];
    const items = typeof v === 'string' ? v.split(' ') : Array.isArray(v) ? v : [];
    for (const s of items) if (typeof s === 'string' && s !== '') out.add(s);
  }
  return out;
}

/** Checks a verified token's payload against the rules. Pure. */
export function checkClaims(rules: ClaimRules, payload: Readonly<Record<string, unknown>>): ClaimVerdict {
  for (const req of rules.claims) {
    const v = payload[req.claim];
    if (v === undefined || v === null) return { ok: false, reason: `the token has no ${JSON.stringify(req.claim)} claim`, missingScopes: [] };
    if (req.anyOf === undefined) continue;
    const have = claimStrings(v);
    if (!have.some((s) => req.anyOf?.includes(s))) {
      return { ok: false, reason: `claim ${JSON.stringify(req.claim)} is not ${req.anyOf.length === 1 ? JSON.stringify(req.anyOf[0]) : `one of ${req.anyOf.map((s) => JSON.stringify(s)).join(', ')}`}`, missingScopes: [] };
    }
  }
  if (rules.scopes.length > 0) {
    const granted = tokenScopes(payload);
    const missing = rules.scopes.filter((s) => !granted.has(s));
    if (missing.length > 0) return { ok: false, reason: `the token lacks scope ${missing.join(' ')}`, missingScopes: missing };
  }
  return OK;
}

/** Reads `requiredClaims` and `requiredScopes` of a JwtPolicy spec; problems go to `r`. */
export function readClaimRules(spec: Json, r: FieldReader): ClaimRules {
  const claims: ClaimRequirement[] = [];
  const seen = new Set<string>();
  r.objs(spec, 'requiredClaims', 'spec', { max: 32 }).forEach((c, i) => {
    const path = `spec.requiredClaims[${i}]`;
    r.known(c, path, ['claim', 'value', 'oneOf']);
    const claim = r.str(c, 'claim', path, { required: true });
    if (claim === '') r.problem(`${path}.claim`, 'must not be empty');
    const value = r.str(c, 'value', path);
    const oneOf = c.oneOf === undefined ? undefined : r.strs(c, 'oneOf', path);
    if (value !== undefined && c.oneOf !== undefined) r.problem(path, 'set at most one of value and oneOf');
    if (oneOf !== undefined && oneOf.length === 0 && Array.isArray(c.oneOf)) r.problem(`${path}.oneOf`, 'needs at least one value (leave it out to require only that the claim is present)');
    if (!claim) return;
    if (seen.has(claim)) r.problem(`${path}.claim`, `${JSON.stringify(claim)} is required twice; list every accepted value in one oneOf`);
    seen.add(claim);
    const anyOf = value !== undefined ? [value] : oneOf !== undefined && oneOf.length > 0 ? oneOf : undefined;
    claims.push(anyOf === undefined ? { claim } : { claim, anyOf });
  });
  const scopes = r.strs(spec, 'requiredScopes', 'spec');
  const uniq = new Set<string>();
  scopes.forEach((s, i) => {
    if (!SCOPE_TOKEN.test(s)) r.problem(`spec.requiredScopes[${i}]`, `${JSON.stringify(s)} is not one OAuth scope (no spaces, quotes or backslashes; list each scope on its own)`);
    if (uniq.has(s)) r.problem(`spec.requiredScopes[${i}]`, `${JSON.stringify(s)} is listed twice`);
    uniq.add(s);
  });
  return { claims, scopes: [...uniq] };
}

/** Reads `claimsToHeaders`: each claim's target header name, lowercased, valid and used once. */
export function readClaimHeaders(spec: Json, r: FieldReader): { readonly claim: string; readonly header: string }[] {
  const headers = new Set<string>();
  return r.objs(spec, 'claimsToHeaders', 'spec').flatMap((c, i) => {
    const path = `spec.claimsToHeaders[${i}]`;
    r.known(c, path, ['claim', 'header']);
    const claim = r.str(c, 'claim', path, { required: true });
    const header = r.str(c, 'header', path, { required: true });
    if (header === undefined || !claim) return [];
    const lower = header.toLowerCase();
    if (!HEADER_NAME.test(header)) r.problem(`${path}.header`, `${JSON.stringify(header)} is not a valid header name`);
    else if (FORBIDDEN_TARGETS.has(lower) || lower.startsWith(':')) r.problem(`${path}.header`, `${JSON.stringify(header)} cannot carry a claim (it steers routing, framing or authentication)`);
    else if (headers.has(lower)) r.problem(`${path}.header`, `${JSON.stringify(header)} receives two claims (header names are case-insensitive)`);
    headers.add(lower);
    return [{ claim, header: lower }];
  });
}
