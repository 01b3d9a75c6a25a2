// The per-request context the gateway's steps read and fill, built in one literal with every
// field so that all exchanges share one hidden class (no spreads on the request path).
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../lib/errors.js';
import type { CompletedPick } from '../mesh/balance/picker.js';
import { NO_POLICIES, type EffectivePolicies, type PolicedExchange } from './policies/policy-set.js';
import type { GatewayRequest, GatewayResponse } from './respond.js';
import type { FilterSpec, HeaderModifier } from './routes/resources.js';
import type { Protocol, ResolvedBackend, RouteDecision } from './routes/route-table.js';
import type { SocketScope } from './routes/listener-scope.js';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';

/**
 * Sees the backend's response before the forward step writes it (the response cache): true when
 * it answered the client itself, false to let forward stream the response as usual.
 */
export type ResponseTap = (upstream: IncomingMessage) => boolean;

/** The raw socket and first bytes of an HTTP/1.1 upgrade request. */
export interface UpgradeSocket {
  readonly socket: Duplex;
  readonly head: Buffer;
}
import type { GatewayState } from './state.js';
import { NO_CONSUMERS } from './consumers/directory.js';
import type { RequestSpan } from '../mesh/trace/tracing.js';

/** A route lookup that found a rule. */
export type Matched = Extract<RouteDecision, { kind: 'matched' }>;
/** A backend that is a mesh service. */
export type ServiceBackend = Extract<ResolvedBackend, { kind: 'service' }>;
/** A RequestMirror filter. */
export type MirrorFilter = Extract<FilterSpec, { type: 'RequestMirror' }>;

/** One request on its way through the steps; fields are filled in request order. */
export interface Exchange extends PolicedExchange {
  readonly protocol: Protocol;
  /** The listeners of the socket the request arrived on. */
  readonly scope: SocketScope;
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  /** performance.now() at arrival. */
  readonly started: number;
  /** The configuration in force at arrival; the request keeps it to the end. */
  readonly state: GatewayState | undefined;
  /** Host or :authority as sent. */
  readonly authority: string | undefined;
  /** The path as sent, without the query string. */
  readonly path: string;
  /** The query string as sent ("" or "?..."). */
  readonly search: string;
  /** Lowercase host without port (read host). */
  host: string;
  /** The rule the request matched (match route). */
  match: Matched | undefined;
  /** The matched rule's label; "-" until then. */
  route: string;
  policies: EffectivePolicies;
  client: string;
  /** Path, host and response header changes the filters asked for. */
  upstreamPath: string;
  upstreamHost: string;
  readonly responseMods: HeaderModifier[];
  readonly mirrors: MirrorFilter[];
  /** The weighted pick among the rule's backends (choose backend). */
  target: ServiceBackend | undefined;
  /** The endpoint picked for it, holding a load slot until released (pick endpoint). */
  entry: CompletedPick | undefined;
  /** For metrics and the access log: the backend's label ("-", "redirect"). */
  backend: string;
  /** The weft error the request was answered with, if any. */
  code: ErrorCode | undefined;
  /** The policy that refused it, if any. */
  policy: string | undefined;
  /** An HTTP/1.1 upgrade (WebSocket): its raw socket; undefined for every other request. */
  readonly upgrade: UpgradeSocket | undefined;
  /** The request body as edited by a TransformPolicy, sent instead of the client's stream. */
  requestBody: Buffer | undefined;
  /** Set by the cache step: called with the backend's response before forward writes it. */
  responseTap: ResponseTap | undefined;
  /** The request's span when tracing is on (docs/tracing.md); undefined otherwise. */
  span: RequestSpan | undefined;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
// Most requests carry no query string: they share one empty, read-only-by-convention parse (the
// steps only ever call get() on x.query; the API key step edits a copy).
const NO_QUERY = new URLSearchParams();

/** Opens the exchange of one request against `state` (undefined before the first configuration). */
export function openExchange(scope: SocketScope, req: GatewayRequest, res: GatewayResponse, state: GatewayState | undefined, started: number, upgrade?: UpgradeSocket): Exchange {
  const headers = req.headers as IncomingHttpHeaders & { ':authority'?: string };
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  const search = q >= 0 ? url.slice(q) : '';
  return {
    protocol: scope.protocol,
    scope,
    req,
    res,
    started,
    state,
    authority: headers[':authority'] ?? headers.host,
    path,
    search,
    query: search === '' ? NO_QUERY : new URLSearchParams(search),
    host: '',
    match: undefined,
    route: '-',
    policies: NO_POLICIES,
    client: req.socket?.remoteAddress ?? '',
    consumer: undefined,
    consumers: state?.consumers ?? NO_CONSUMERS,
    account: undefined,
    headers: {},
    upstreamSearch: search,
    corsHeaders: NO_HEADERS,
    limitHeaders: NO_HEADERS,
    bodyLimit: undefined,
    transform: undefined,
    upstreamPath: path,
    upstreamHost: '',
    responseMods: [],
    mirrors: [],
    target: undefined,
    entry: undefined,
    backend: '-',
    code: undefined,
    policy: undefined,
    upgrade,
    requestBody: undefined,
    responseTap: undefined,
    span: undefined,
  };
}

/** The state past the first step, which refuses a request that arrived before any configuration. */
export function stateOf(x: Exchange): GatewayState {
  if (x.state === undefined) throw new Error('a step ran without a configuration');
  return x.state;
}
