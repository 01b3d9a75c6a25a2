// AdmissionReview admission.k8s.io/v1 in and out, without sockets: validates the review, runs the
// patching core for a Pod CREATE, and builds the response (uid echoed, JSONPatch base64).
import { WeftError } from '../lib/errors.js';
import { isObject } from './json-patch.js';
import { SKIPPED_KEY, annotationOps, planInjection, type NamespaceInjection, type SkipReason } from './patch.js';
import type { InjectorSettings } from './settings.js';

/** What happened to one review; the label of the reviews metric. */
export type ReviewOutcome = 'injected' | 'skipped' | 'rejected' | 'ignored';

/** The response body plus what the server logs and counts. */
export interface ReviewAnswer {
  readonly body: AdmissionReviewResponse;
  readonly outcome: ReviewOutcome;
  /** One line for the log: why skipped / rejected / ignored, or what was injected. */
  readonly detail: string;
  /** Bytes of the JSON patch (0 when none). */
  readonly patchBytes: number;
  /** For a skipped pod: why, as a stable word (the log's rate limit is per reason). */
  readonly skipReason?: SkipReason;
}

/** The AdmissionReview we answer with. */
export interface AdmissionReviewResponse {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly response: {
    readonly uid: string;
    readonly allowed: boolean;
    readonly patchType?: 'JSONPatch';
    readonly patch?: string;
    readonly warnings?: readonly string[];
    readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
  };
}

/** The fields of a review's request the injector uses, validated. */
export interface ParsedReview {
  readonly uid: string;
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly operation: string;
  readonly subResource: string;
  readonly namespace: string;
  readonly object: unknown;
}

function malformed(message: string): WeftError {
  return new WeftError('WEFT_ERR_ADMISSION_REVIEW', `malformed AdmissionReview: ${message}`);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Checks the envelope; throws WEFT_ERR_ADMISSION_REVIEW naming the field and what was expected. */
export function parseReview(body: unknown): ParsedReview {
  if (!isObject(body)) return badBody(body);
  if (body['apiVersion'] !== 'admission.k8s.io/v1') {
    throw malformed(`apiVersion is ${JSON.stringify(body['apiVersion'] ?? null)}, expected "admission.k8s.io/v1"`);
  }
  if (body['kind'] !== 'AdmissionReview') {
    throw malformed(`kind is ${JSON.stringify(body['kind'] ?? null)}, expected "AdmissionReview"`);
  }
  const req = body['request'];
  if (!isObject(req)) throw malformed('request is missing or not an object');
  const uid = req['uid'];
  if (typeof uid !== 'string' || uid === '') throw malformed('request.uid is missing or not a non-empty string');
  const kind = req['kind'];
  if (!isObject(kind) || typeof kind['kind'] !== 'string' || typeof kind['version'] !== 'string') {
    throw malformed('request.kind must be an object {group, version, kind} with string version and kind');
  }
  const operation = req['operation'];
  if (typeof operation !== 'string' || !['CREATE', 'UPDATE', 'DELETE', 'CONNECT'].includes(operation)) {
    throw malformed(`request.operation is ${JSON.stringify(operation ?? null)}, expected CREATE, UPDATE, DELETE or CONNECT`);
  }
  for (const field of ['namespace', 'subResource'] as const) {
    if (req[field] !== undefined && typeof req[field] !== 'string') throw malformed(`request.${field} is not a string`);
  }
  const parsed: ParsedReview = {
    uid,
    group: str(kind['group']),
    version: kind['version'],
    kind: kind['kind'],
    operation,
    subResource: str(req['subResource']),
    namespace: str(req['namespace']),
    object: req['object'],
  };
  if (isPodCreate(parsed)) {
    const obj = req['object'];
    if (!isObject(obj)) throw malformed('request.object must be the Pod being created (an object)');
    const spec = obj['spec'];
    if (!isObject(spec)) throw malformed('request.object.spec must be an object');
    if (!Array.isArray(spec['containers'])) throw malformed('request.object.spec.containers must be an array');
    for (const field of ['initContainers', 'volumes'] as const) {
      if (spec[field] !== undefined && spec[field] !== null && !Array.isArray(spec[field])) {
        throw malformed(`request.object.spec.${field} must be an array when present`);
      }
    }
    if (obj['metadata'] !== undefined && !isObject(obj['metadata'])) throw malformed('request.object.metadata must be an object');
  }
  return parsed;
}

function badBody(body: unknown): never {
  const what = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
  throw malformed(`the body must be a JSON object, got ${what}`);
}

function isPodCreate(r: ParsedReview): boolean {
  return r.group === '' && r.version === 'v1' && r.kind === 'Pod' && r.operation === 'CREATE' && r.subResource === '';
}

/**
 * Answers one review. The webhook path tells whether the namespace selector already guaranteed
 * the `weft.dev/inject=enabled` namespace label (docs/injection.md, "Two webhooks").
 */
export function answerReview(body: unknown, settings: InjectorSettings, namespaceInjection: NamespaceInjection): ReviewAnswer {
  const review = parseReview(body);
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } as const;
  if (!isPodCreate(review)) {
    const what = `${review.group === '' ? '' : review.group + '/'}${review.version}/${review.kind}${review.subResource ? '/' + review.subResource : ''} ${review.operation}`;
    return {
      body: { ...base, response: { uid: review.uid, allowed: true } },
      outcome: 'ignored',
      detail: `not a Pod CREATE (${what}): allowed unchanged`,
      patchBytes: 0,
    };
  }
  const result = planInjection({ pod: review.object, namespace: review.namespace, namespaceInjection, settings });
  const warnings = result.warnings.length > 0 ? { warnings: result.warnings } : {};
  switch (result.kind) {
    case 'skipped': {
      if (!result.annotate) return { body: { ...base, response: { uid: review.uid, allowed: true, ...warnings } }, outcome: 'skipped', detail: result.reason, patchBytes: 0, skipReason: result.code };
      // The pod asked for the mesh and did not get it: the reason goes on the pod, for kubectl describe.
      const meta = isObject(review.object) && isObject(review.object['metadata']) ? review.object['metadata'] : undefined;
      const json = JSON.stringify(annotationOps(meta, { [SKIPPED_KEY]: `${result.code}: ${result.reason}` }));
      const patch = Buffer.from(json).toString('base64');
      return { body: { ...base, response: { uid: review.uid, allowed: true, patchType: 'JSONPatch', patch, ...warnings } }, outcome: 'skipped', detail: result.reason, patchBytes: json.length, skipReason: result.code };
    }
    case 'rejected':
      return {
        body: {
          ...base,
          // The injector's own fault (no trust anchors) is still a refused review, not an HTTP
          // 500: a 500 lets failurePolicy Ignore admit the pod without a proxy (docs/injection.md).
          response: {
            uid: review.uid,
            allowed: false,
            ...warnings,
            status: result.code === undefined
              ? { code: 400, reason: 'BadRequest', message: result.message }
              : { code: 500, reason: 'InternalError', message: `${result.code}: ${result.message}` },
          },
        },
        outcome: 'rejected',
        detail: result.message,
        patchBytes: 0,
      };
    case 'injected': {
      const json = JSON.stringify(result.patch);
      return {
        body: {
          ...base,
          response: { uid: review.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(json).toString('base64'), ...warnings },
        },
        outcome: 'injected',
        detail: `injected (${result.patch.length} operations${result.notes.length > 0 ? '; ' + result.notes.join('; ') : ''})`,
        patchBytes: Buffer.byteLength(json),
      };
    }
  }
}
