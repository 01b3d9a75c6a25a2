// serve(): the one owner of an exchange's lifecycle, driven through a fake protocol adapter with
// no sockets: drain counted from accept, one guard for throws, every path ending exactly once.
import t from 'tap';
import { Registry } from 'prom-client';
import { serve, type ServeSpec } from '../../../proxy/serve.js';
import { ExchangeRecorder, startExchange } from '../../../proxy/exchange.js';
import { createProxyMetrics } from '../../../proxy/metrics.js';
import { Drain } from '../../../mesh/drain.js';
import { directPick, type CompletedPick, type PickOutcome } from '../../../mesh/balance/picker.js';
import { createLogger } from '../../../lib/logger.js';
import { WeftError } from '../../../lib/errors.js';
import type { ForwardHooks } from '../../../proxy/forward/http1.js';

interface Target {
  readonly pick: CompletedPick;
}

// A pick whose releases the test can read.
function trackedPick(): { pick: CompletedPick; outcomes: PickOutcome[] } {
  const inner = directPick({ address: '10.0.0.1', port: 80, identity: 'spiffe://cluster.local/ns/a/sa/b', ready: true });
  const outcomes: PickOutcome[] = [];
  return { outcomes, pick: { type: 'complete', endpoint: inner.endpoint, release: (o) => outcomes.push(o) } };
}

function setup(): { deps: Parameters<typeof serve>[0]; drain: Drain; logs: string[]; registry: Registry } {
  const logs: string[] = [];
  const registry = new Registry();
  const log = createLogger({ level: 'info', name: 'test', destination: { write: (line: string) => logs.push(line) } });
  const drain = new Drain();
  let clock = 0;
  const now = (): number => (clock += 5);
  return { deps: { drain, recorder: new ExchangeRecorder(createProxyMetrics(registry), log, now), log, now }, drain, logs, registry };
}

/** A fake adapter: records what serve asked of it. */
function adapter(overrides: Partial<ServeSpec<Target>>): { spec: ServeSpec<Target>; responded: WeftError[]; forwarded: ForwardHooks[]; close: () => void } {
  const responded: WeftError[] = [];
  const forwarded: ForwardHooks[] = [];
  let onClose: () => void = () => {};
  const spec: ServeSpec<Target> = {
    exchange: startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'orders', path: '/' }, 0),
    route: () => () => {},
    pickOf: (target) => target.pick,
    forward: (_target, hooks) => forwarded.push(hooks),
    respond: (error) => responded.push(error),
    onClose: (listener) => (onClose = listener),
    ...overrides,
  };
  return { spec, responded, forwarded, close: () => onClose() };
}

t.test('a routed exchange is forwarded, and its end releases the pick with the outcome and frees the drain', async (t) => {
  const { deps, drain } = setup();
  const { pick, outcomes } = trackedPick();
  const a = adapter({ route: (answer) => (answer({ pick }), () => {}) });
  serve(deps, a.spec);
  t.equal(drain.inflight, 1, 'counted while forwarding');
  t.equal(a.forwarded.length, 1);
  a.forwarded[0]?.onResponse(200);
  a.forwarded[0]?.onEnd();
  a.forwarded[0]?.onEnd(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'late'));
  t.equal(drain.inflight, 0);
  t.match(outcomes, [{ result: 'success', code: '' }], 'released as a success');
  t.equal(outcomes.length, 1, 'released once');
  t.ok((outcomes[0]?.latencyMs ?? 0) > 0, 'with the time since it was forwarded');
  t.same(a.responded, []);
});

t.test('a route that answers with an error gets that error through the adapter\'s writer', async (t) => {
  const { deps, drain } = setup();
  const a = adapter({ route: (answer) => (answer(new WeftError('WEFT_ERR_UNKNOWN_SERVICE', 'no mesh service a/nope:80')), () => {}) });
  serve(deps, a.spec);
  t.match(a.responded, [{ code: 'WEFT_ERR_UNKNOWN_SERVICE' }]);
  t.equal(a.spec.exchange.status, 502);
  t.equal(a.spec.exchange.errorCode, 'WEFT_ERR_UNKNOWN_SERVICE');
  t.equal(drain.inflight, 0);
});

t.test('a throw in the route step answers 500 WEFT_ERR_INTERNAL for that request and is logged at error', async (t) => {
  const { deps, drain, logs } = setup();
  const a = adapter({
    route: () => {
      throw new TypeError('route bug');
    },
  });
  serve(deps, a.spec);
  t.match(a.responded, [{ code: 'WEFT_ERR_INTERNAL', status: 500 }]);
  t.equal(drain.inflight, 0);
  t.ok(logs.some((l) => l.includes('"level":50') && l.includes('"code":"WEFT_ERR_INTERNAL"') && l.includes('route bug')));
});

t.test('a throw in a continuation after a wait answers 500 and releases the pick as a failure', async (t) => {
  const { deps, drain } = setup();
  const { pick, outcomes } = trackedPick();
  let later: ((target: Target | WeftError) => void) | undefined;
  const a = adapter({
    route: (answer) => ((later = answer), () => {}),
    forward: () => {
      throw new RangeError('forward bug');
    },
  });
  serve(deps, a.spec);
  t.equal(drain.inflight, 1, 'a parked request is counted by the drain');
  t.doesNotThrow(() => later?.({ pick }), 'the throw never reaches the caller of the continuation');
  t.match(a.responded, [{ code: 'WEFT_ERR_INTERNAL' }]);
  t.match(outcomes, [{ result: 'failure', code: 'WEFT_ERR_INTERNAL' }]);
  t.equal(drain.inflight, 0);
});

t.test('a client that leaves while parked cancels the wait, ends the exchange, and a late pick is released unused', async (t) => {
  const { deps, drain } = setup();
  const { pick, outcomes } = trackedPick();
  let later: ((target: Target | WeftError) => void) | undefined;
  let cancelled = 0;
  const a = adapter({
    route: (answer) => {
      later = answer;
      return () => (cancelled += 1);
    },
  });
  serve(deps, a.spec);
  a.close();
  t.equal(cancelled, 1, 'the wait was cancelled');
  t.equal(drain.inflight, 0);
  t.equal(a.spec.exchange.errorCode, 'client_closed');
  later?.({ pick });
  t.same(a.forwarded, [], 'nothing is forwarded for a client that left');
  t.match(outcomes, [{ result: 'cancelled' }]);
});

t.test('a tunnel holds the drain until it is forwarded, not for its whole life', async (t) => {
  const { deps, drain } = setup();
  const { pick, outcomes } = trackedPick();
  let later: ((target: Target | WeftError) => void) | undefined;
  const a = adapter({ tunnel: true, route: (answer) => ((later = answer), () => {}) });
  serve(deps, a.spec);
  t.equal(drain.inflight, 1, 'parked: counted');
  later?.({ pick });
  t.equal(drain.inflight, 0, 'forwarded: no longer counted');
  a.forwarded[0]?.onEnd(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'gone'));
  t.equal(drain.inflight, 0, 'the end does not count it down twice');
  t.match(outcomes, [{ result: 'failure', code: 'WEFT_ERR_UPSTREAM_RESET' }]);
});
