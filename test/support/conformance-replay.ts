// The Gateway API conformance replay's pure parts: the extracted fixtures' types, the request a
// case makes (as upstream's http.MakeRequest builds it) and the comparison of what came back (a
// port of upstream's http.CompareRoundTrip, conformance/utils/http/http.go at the pinned commit).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

/** Where the vendored fixtures live. */
export const FIXTURES = new URL('../fixtures/gateway-api/', import.meta.url);

/** http.Request of the suite (also the base of ExpectedRequest). */
export interface CaseRequest {
  readonly Host?: string;
  readonly Method?: string;
  readonly Path?: string;
  readonly Headers?: Readonly<Record<string, string>> | null;
  readonly UnfollowRedirect?: boolean;
  readonly Protocol?: string;
  readonly Body?: string;
}

/** http.ExpectedResponse, as extracted. */
export interface ConformanceCase {
  readonly Request: CaseRequest;
  readonly ExpectedRequest?: { readonly Request?: CaseRequest; readonly AbsentHeaders?: readonly string[]; readonly HTTPPort?: string } | null;
  readonly RedirectRequest?: { readonly Scheme?: string; readonly Host?: string; readonly Port?: string; readonly Path?: string } | null;
  readonly BackendSetResponseHeaders?: Readonly<Record<string, string>>;
  readonly Response?: {
    readonly StatusCode?: number;
    readonly StatusCodes?: readonly number[];
    readonly Headers?: Readonly<Record<string, string>>;
    readonly ValidHeaderValues?: Readonly<Record<string, readonly string[]>>;
    readonly AbsentHeaders?: readonly string[];
    readonly Protocol?: string;
    readonly IgnoreWhitespace?: boolean;
  };
  readonly Backend?: string;
  readonly Namespace?: string;
  readonly MirroredTo?: readonly { readonly BackendRef: { readonly Name: string; readonly Namespace: string } }[];
  readonly TestCaseName?: string;
  readonly line: number;
  /** The upstream call that sends the case (MakeRequestAndExpectEventuallyConsistentResponse, MakeTLSRequest...). */
  readonly call?: string;
  /** The TLS server name (SNI) a MakeTLSRequest call sends. */
  readonly serverName?: string;
  /** namespace/name of the Gateway the upstream test sends this case to, when the converter saw it. */
  readonly gateway?: string;
}

/** A types.NamespacedName (with NewGatewayRef's listener names). */
export interface NamespacedName {
  readonly Name: string;
  readonly Namespace: string;
  readonly listeners?: readonly string[];
}

/** One extracted kubernetes.* status assertion. */
export interface StatusCheck {
  readonly check: string;
  readonly line: number;
  readonly route?: NamespacedName;
  readonly gateway?: NamespacedName;
  readonly gatewayRef?: NamespacedName;
  readonly routes?: readonly NamespacedName[];
  readonly condition?: { readonly Type: string; readonly Status: string; readonly Reason: string };
}

/** One upstream conformance test, as extracted. */
export interface ConformanceTest {
  readonly shortName: string;
  readonly file: string;
  readonly features: readonly string[];
  readonly manifests: readonly string[];
  readonly cases: readonly ConformanceCase[];
  readonly statusChecks: readonly StatusCheck[];
  readonly unreadable: readonly { readonly what: string; readonly reason: string }[];
}

/** cases.json. */
export interface ConformanceFixtures {
  readonly repository: string;
  readonly commit: string;
  readonly tests: readonly ConformanceTest[];
}

/** Reads cases.json. */
export function loadFixtures(): ConformanceFixtures {
  return JSON.parse(readFileSync(new URL('cases.json', FIXTURES), 'utf8')) as ConformanceFixtures;
}

/** A Kubernetes object as plain data. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; generation?: number; [k: string]: unknown };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

/** The objects of a vendored manifest (path relative to conformance/), the class placeholder set to `weft`. */
export function readManifest(path: string): KubeObject[] {
  const text = readFileSync(new URL(`conformance/${path}`, FIXTURES), 'utf8').replaceAll('{GATEWAY_CLASS_NAME}', 'weft');
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** The request a case makes, after upstream's defaults (MakeRequest). */
export interface WireRequest {
  readonly method: string;
  /** Host header; empty means the gateway address. */
  readonly host: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly protocol: string;
}

/** Builds the request as http.MakeRequest does (method GET, X-Echo-Set-Header always sent). */
export function wireRequest(c: ConformanceCase): WireRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.Request.Headers ?? {})) headers[k] = v;
  headers['X-Echo-Set-Header'] = Object.entries(c.BackendSetResponseHeaders ?? {})
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  return { method: c.Request.Method || 'GET', host: c.Request.Host ?? '', path: c.Request.Path ?? '', headers, body: c.Request.Body, protocol: c.Request.Protocol || 'HTTP' };
}

/** What came back: status, headers by lower-case name with every value, and the echo's JSON if any. */
export interface RoundTrip {
  readonly status: number;
  readonly protocol: string;
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly captured: Captured | undefined;
  /** Location, parsed, on a redirect. */
  readonly location: { scheme: string; host: string; port: string; path: string } | undefined;
}

/** roundtripper.CapturedRequest. */
export interface Captured {
  readonly path: string;
  readonly host: string;
  readonly method: string;
  readonly proto: string;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly namespace: string;
  readonly pod: string;
  readonly httpPort?: string;
}

const REDIRECTS = new Set([300, 301, 302, 303, 304, 305, 307, 308]);
const isTimeout = (s: number): boolean => s === 408 || s === 504;

/**
 * CompareRoundTrip: undefined when the round trip meets the case, else what differs (upstream's
 * message). `sent` is the request as it went out.
 */
export function compareRoundTrip(c: ConformanceCase, sent: WireRequest, rt: RoundTrip): string | undefined {
  const codes = [...(c.Response?.StatusCodes ?? [])];
  if (c.Response?.StatusCode && !codes.includes(c.Response.StatusCode)) codes.push(c.Response.StatusCode);
  if (codes.length === 0) codes.push(200);
  if (isTimeout(rt.status) && codes.some(isTimeout)) return undefined;
  if (!codes.includes(rt.status)) return `expected status code to be one of [${codes.join(' ')}], got ${rt.status}`;
  if (c.Response?.Protocol && c.Response.Protocol !== rt.protocol) return `expected protocol to be ${c.Response.Protocol}, got ${rt.protocol}`;
  if (rt.status === 200 || rt.status === 204) {
    // Not JSON: the roundtripper assumes the method was right and captures nothing else.
    const cReq: Captured = rt.captured ?? { path: '', host: '', method: sent.method, proto: '', headers: {}, namespace: '', pod: '' };
    const er = c.ExpectedRequest?.Request ?? c.Request;
    const method = er.Method || 'GET';
    const path = c.ExpectedRequest ? (er.Path ?? '') : (c.Request.Path ?? '');
    if (er.Host && er.Host !== cReq.host) return `expected host to be ${er.Host}, got ${cReq.host}`;
    if (path !== cReq.path) return `expected path to be ${path}, got ${cReq.path}`;
    if (method !== cReq.method) return `expected method to be ${method}, got ${cReq.method}`;
    if ((c.Namespace ?? '') !== cReq.namespace) return `expected namespace to be ${c.Namespace ?? ''}, got ${cReq.namespace}`;
    const reqHeaders = new Map<string, string>();
    for (const [k, v] of Object.entries(cReq.headers ?? {})) reqHeaders.set(k.toLowerCase(), v.join(','));
    for (const [name, want] of Object.entries(er.Headers ?? {})) {
      const got = reqHeaders.get(name.toLowerCase());
      if (got === undefined) return `expected ${name} header to be set, actual headers: ${JSON.stringify(cReq.headers)}`;
      if (got !== want) return `expected ${name} header to be set to ${want}, got ${got}`;
    }
    const httpPort = c.ExpectedRequest?.HTTPPort;
    if (httpPort && httpPort !== cReq.httpPort) return `expected httpPort "${httpPort}", got "${cReq.httpPort ?? ''}"`;
    const ws = (s: string): string => (c.Response?.IgnoreWhitespace ? s.replaceAll(' ', '') : s);
    for (const [name, wants] of Object.entries(c.Response?.ValidHeaderValues ?? {})) {
      const got = rt.headers.get(name.toLowerCase());
      if (!got) return `expected ${name} header to be set, actual headers: ${JSON.stringify([...rt.headers])}`;
      if (!wants.map(ws).includes(ws(got.join(',')))) return `expected ${name} header to be set to one of ${JSON.stringify(wants)}, got ${got.join(',')}`;
    }
    for (const [name, want] of Object.entries(c.Response?.Headers ?? {})) {
      const got = rt.headers.get(name.toLowerCase());
      if (!got) return `expected ${name} header to be set, actual headers: ${JSON.stringify([...rt.headers])}`;
      if (ws(got.join(',')) !== ws(want)) return `expected ${name} header to be set to ${want}, got ${got.join(',')}`;
    }
    for (const name of c.Response?.AbsentHeaders ?? []) {
      const got = rt.headers.get(name.toLowerCase());
      if (got) return `expected ${name} header to not be set, got ${got.join(',')}`;
    }
    for (const name of c.ExpectedRequest?.AbsentHeaders ?? []) {
      const got = reqHeaders.get(name.toLowerCase());
      if (got !== undefined) return `expected ${name} header to not be set, got ${got}`;
    }
    if (!cReq.pod.startsWith(c.Backend ?? '')) return `expected pod name to start with ${c.Backend ?? ''}, got ${cReq.pod}`;
  } else if (REDIRECTS.has(rt.status)) {
    const want = c.RedirectRequest;
    if (!want) return undefined;
    const got = rt.location;
    if (!got) return `status ${rt.status} without a Location`;
    const host = want.Host || got.host;
    const scheme = want.Scheme || 'http';
    const path = want.Path || sent.path.split('?')[0];
    if (host !== got.host) return `expected redirected hostname to be "${host}", got "${got.host}"`;
    if (!want.Port) {
      if (got.scheme.toLowerCase() === 'http' && got.port !== '80' && got.port !== '') return `for http scheme, expected redirected port to be 80 or not set, got "${got.port}"`;
      if (got.scheme.toLowerCase() === 'https' && got.port !== '443' && got.port !== '') return `for https scheme, expected redirected port to be 443 or not set, got "${got.port}"`;
    } else if (want.Port !== got.port) return `expected redirected port to be "${want.Port}", got "${got.port}"`;
    if (scheme !== got.scheme) return `expected redirected scheme to be "${scheme}", got "${got.scheme}"`;
    if (path !== got.path) return `expected redirected path to be "${path}", got "${got.path}"`;
  }
  return undefined;
}

/** Parses a Location header against the request's host (Go's resp.Location()). */
export function parseLocation(location: string, requestHost: string): RoundTrip['location'] {
  // Go keeps an explicit default port (":80") that WHATWG URL drops, so absolute URLs are split by hand.
  const abs = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[^\]]*\]|[^/:?#]*)(?::(\d*))?([^?#]*)/.exec(location);
  if (abs) return { scheme: abs[1] ?? '', host: (abs[2] ?? '').replace(/^\[|\]$/g, ''), port: abs[3] ?? '', path: decodeURIComponent(abs[4] ?? '') };
  try {
    const u = new URL(location, `http://${requestHost}`);
    return { scheme: u.protocol.replace(/:$/, ''), host: u.hostname, port: u.port, path: decodeURIComponent(u.pathname) };
  } catch {
    return undefined;
  }
}

/** What docs/gateway.md's Conformance section declares (the replay reads and checks it). */
export interface Declared {
  /** Feature names weft declares supported. */
  readonly supported: ReadonlySet<string>;
  /** Feature name -> why it is not declared. */
  readonly unsupported: ReadonlyMap<string, string>;
  /** Test short name -> which of its parts are not replayed, and why. */
  readonly notReplayed: ReadonlyMap<string, string>;
  /** Test short name -> what fails and why (each must fail, and nothing else may). */
  readonly knownFailures: ReadonlyMap<string, string>;
  /** The section's text. */
  readonly text: string;
}

/** Reads the Conformance section: `- \`Feature\`` bullets and `| \`Name\` | reason |` table rows under each heading. */
export function readDeclared(doc: string): Declared {
  const section = doc.slice(doc.indexOf('## Conformance'), doc.indexOf('\n## ', doc.indexOf('## Conformance') + 5));
  const part = (heading: string): string => {
    const at = section.indexOf(`### ${heading}`);
    if (at < 0) return '';
    const end = section.indexOf('\n### ', at + 4);
    return section.slice(at, end < 0 ? undefined : end);
  };
  const rows = (heading: string): Map<string, string> => new Map([...part(heading).matchAll(/^\| `([A-Za-z0-9]+)` \| (.+?) \|$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  return {
    supported: new Set([...part('Supported features').matchAll(/^- `([A-Za-z0-9]+)`/gm)].map((m) => m[1] ?? '')),
    unsupported: rows('Unsupported features'),
    notReplayed: rows('Not replayed'),
    knownFailures: rows('Known failures'),
    text: section,
  };
}
