// The shape of the gateway's request path: an ordered list of small steps, each deciding
// "continue" or how the request is answered, and the one runner that walks the list.
import type { ErrorCode } from '../lib/errors.js';

/** Answer with a weft error (status from the error table); `policy` names the policy that refused. */
export interface Refusal {
  readonly kind: 'refuse';
  readonly code: ErrorCode;
  readonly message: string;
  /** Extra response headers (WWW-Authenticate, RateLimit-*, CORS). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** "Kind ns/name" of the refusing policy, for the rejection metric and the access log. */
  readonly policy: string | undefined;
}

/** Answer with a status and headers and no body: a CORS preflight's 204, a redirect. */
export interface Answer {
  readonly kind: 'answer';
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** The step waits (a token check, discovery's first answer); the chain goes on with its outcome. */
export interface Wait {
  readonly kind: 'wait';
  readonly until: Promise<StepResult>;
}

/**
 * What a step decided: go on to the next step, stop because the step took the exchange over
 * (forwarding), or stop with an answer the runner writes.
 */
export type StepResult = 'continue' | 'handed-over' | Refusal | Answer | Wait;

/** One step of the request path; it reads and fills the per-request exchange. */
export type Step<X> = (x: X) => StepResult;

/** Go on to the next step. */
export const CONTINUE = 'continue';
/** The step owns the exchange from here (it answers later, e.g. with the upstream's response). */
export const HANDED_OVER = 'handed-over';

/** A refusal with `code`; `policy` when a policy refused. */
export function refusal(code: ErrorCode, message: string, headers?: Readonly<Record<string, string>>, policy?: string): Refusal {
  return { kind: 'refuse', code, message, headers, policy };
}

/** A bodyless answer. */
export function answer(status: number, headers: Readonly<Record<string, string>>): Answer {
  return { kind: 'answer', status, headers };
}

/** A result that comes later. */
export function wait(until: Promise<StepResult>): Wait {
  return { kind: 'wait', until };
}

/** How a chain ends; the handler writes the responses, so they are written in one place. */
export interface ChainEnd<X> {
  /** True once nothing more should run for this exchange (the client left, the response ended). */
  over(x: X): boolean;
  refused(x: X, r: Refusal): void;
  answered(x: X, a: Answer): void;
  /** A step threw, or a wait was rejected: a bug, which must cost this one request only. */
  failed(x: X, err: unknown): void;
}

/**
 * Runs `steps` in order from `from` until one does not continue. The steps between two waits run
 * in one synchronous stretch, so whether the exchange is over is asked only when a stretch begins;
 * a step can rely on the one before it (a pick on the forward that releases what it took).
 */
export function runSteps<X>(steps: readonly Step<X>[], x: X, end: ChainEnd<X>, from = 0): void {
  if (end.over(x)) return;
  // One guard for the steps and for writing their answer: a throw costs this request only.
  try {
    for (let i = from; i < steps.length; i++) {
      const result = (steps[i] as Step<X>)(x);
      if (result !== CONTINUE) return conclude(steps, x, end, result, i + 1);
    }
  } catch (err) {
    end.failed(x, err);
  }
}

function conclude<X>(steps: readonly Step<X>[], x: X, end: ChainEnd<X>, result: StepResult, next: number): void {
  if (result === CONTINUE) return runSteps(steps, x, end, next);
  if (result === HANDED_OVER) return;
  switch (result.kind) {
    case 'refuse':
      return end.refused(x, result);
    case 'answer':
      return end.answered(x, result);
    case 'wait':
      // The one place a chain waits; a rejection or a throw after it is a bug of this request.
      void result.until
        .then((r) => {
          if (!end.over(x)) conclude(steps, x, end, r, next);
        })
        .catch((err: unknown) => end.failed(x, err));
  }
}
