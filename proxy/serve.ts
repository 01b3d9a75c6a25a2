// The one owner of an exchange's lifecycle, whatever its protocol: counted by the drain from
// accept, routed (possibly after waiting for discovery), forwarded, and ended exactly once. One
// guard turns any throw in a step into WEFT_ERR_INTERNAL (500) for that request only; the
// protocol adapters keep only "forward" and "respond with an error".
import { cancelled, failed, succeeded, type CompletedPick, type PickOutcome } from '../mesh/balance/picker.js';
import type { Drain } from '../mesh/drain.js';
import { classify } from '../mesh/rescue.js';
import { isWeftError, type WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Exchange, ExchangeRecorder } from './exchange.js';
import type { ForwardHooks } from './forward/http1.js';
import { endSpan } from './trace-step.js';

/** What every exchange is served with. */
export interface ServeDeps {
  readonly drain: Drain;
  readonly recorder: ExchangeRecorder;
  readonly log: Logger;
  readonly now: () => number;
}

/** One exchange, as a protocol adapter describes it. */
export interface ServeSpec<T> {
  readonly exchange: Exchange;
  /** Finds where the request goes and calls `answer` once (now or after a wait); returns a cancel. */
  route(answer: (target: T | WeftError) => void): () => void;
  /** The endpoint pick a target holds, released when the exchange ends. */
  pickOf(target: T): CompletedPick | undefined;
  /** Sends the request to `target`; reports the response and the end through `hooks`. */
  forward(target: T, hooks: ForwardHooks): void;
  /** Answers with an error: this protocol's rescue writer. */
  respond(error: WeftError): void;
  /** Registers `listener` for the client going away. */
  onClose(listener: () => void): void;
  /**
   * A tunnel is a connection, not a request: the drain counts it until it is forwarded, so
   * shutdown waits for parked tunnels but not for long-lived ones (their sockets close after).
   */
  readonly tunnel?: boolean;
}

/** Serves one exchange; never throws, and every path ends it exactly once. */
export function serve<T>(deps: ServeDeps, spec: ServeSpec<T>): void {
  const { drain, recorder, now } = deps;
  const exchange = spec.exchange;
  drain.begin();
  let counted = true;
  let ended = false;
  let forwarding = false;
  let pick: CompletedPick | undefined;
  let forwardedMs = 0;
  let cancel: () => void = noop;
  const uncount = (): void => {
    if (!counted) return;
    counted = false;
    drain.end();
  };
  const hooks: ForwardHooks = {
    onResponse: (status) => recorder.responded(exchange, status),
    onGrpcStatus: (value) => {
      const text = Array.isArray(value) ? value[0] : value;
      if (text !== undefined) exchange.grpcStatus = text;
    },
    onEnd: (error) => {
      if (ended) return;
      ended = true;
      cancel();
      // Latency to the response headers: what a slow endpoint adds, whatever the body's length.
      if (pick) pick.release(outcomeOf(error, forwardedMs === 0 ? -1 : (exchange.responseMs || now()) - forwardedMs, exchange.status));
      uncount();
      recorder.finish(exchange, error === undefined ? undefined : error === 'client_closed' ? 'client_closed' : error.code);
      endSpan(exchange);
    },
  };
  const fail = (error: WeftError): void => {
    if (ended) return;
    try {
      spec.respond(error);
    } catch (err) {
      deps.log.error({ code: 'WEFT_ERR_INTERNAL', err: String(err) }, 'writing an error answer failed');
    }
    // A tunnel has no status to send; its failures are counted by code alone.
    if (!spec.tunnel) hooks.onResponse(error.status);
    hooks.onEnd(error);
  };
  // The one guard: a throw anywhere in a step costs this request a 500, never the process.
  const guard = (step: () => void): void => {
    try {
      step();
    } catch (err) {
      const error = classify(err, 'internal');
      if (error.code === 'WEFT_ERR_INTERNAL') {
        deps.log.error({ code: error.code, err: String((err as Error).stack ?? err), authority: exchange.authority, path: exchange.path }, 'request failed inside weft');
      }
      fail(error);
    }
  };
  const onAnswer = (answer: T | WeftError): void =>
    guard(() => {
      const picked = isWeftError(answer) ? undefined : spec.pickOf(answer);
      if (ended) {
        // The client left while the answer was on its way: the endpoint never saw the request.
        picked?.release(cancelled());
        return;
      }
      if (isWeftError(answer)) {
        fail(answer);
        return;
      }
      pick = picked;
      forwarding = true;
      forwardedMs = now();
      if (spec.tunnel) uncount();
      spec.forward(answer, hooks);
    });
  guard(() => {
    spec.onClose(() => {
      // Once forwarding, the forwarder sees the close itself and ends the exchange.
      if (!forwarding) hooks.onEnd('client_closed');
    });
    cancel = spec.route(onAnswer);
    if (ended) cancel();
  });
}

function outcomeOf(error: WeftError | 'client_closed' | undefined, latencyMs: number, status: number): PickOutcome {
  if (error === undefined) return succeeded(latencyMs, status);
  if (error === 'client_closed') return cancelled(latencyMs);
  return failed(error.code, latencyMs, status);
}

function noop(): void {}
