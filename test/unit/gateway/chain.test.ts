// The step runner: steps run in list order, a step that answers stops the chain, a wait resumes
// it at the next step, and a throw or a rejected wait costs the request, not the chain's caller.
// Negative checks wait for setImmediate, by which time every settled promise's callbacks have run.
import t from 'tap';
import { answer, CONTINUE, HANDED_OVER, refusal, runSteps, wait, type ChainEnd, type Step, type StepResult } from '../../../gateway/chain.js';

interface Ctx {
  readonly ran: string[];
  over: boolean;
  readonly ends: string[];
}

const ctx = (): Ctx => ({ ran: [], over: false, ends: [] });

const end: ChainEnd<Ctx> = {
  over: (x) => x.over,
  refused: (x, r) => void x.ends.push(`refused ${r.code} ${r.message}${r.policy ? ` by ${r.policy}` : ''}`),
  answered: (x, a) => void x.ends.push(`answered ${a.status}`),
  failed: (x, err) => void x.ends.push(`failed ${(err as Error).message}`),
};

const step = (name: string, result: StepResult = CONTINUE): Step<Ctx> => (x) => {
  x.ran.push(name);
  return result;
};

t.test('steps run in the order of the list', async (t) => {
  const x = ctx();
  runSteps([step('a'), step('b'), step('c')], x, end);
  t.same(x.ran, ['a', 'b', 'c']);
  t.same(x.ends, [], 'a chain that only continues answers nothing itself');
});

t.test('a step that refuses stops the chain and the refusal is answered once', async (t) => {
  const x = ctx();
  runSteps([step('a'), step('deny', refusal('WEFT_ERR_IP_DENIED', 'no', undefined, 'IpAccessPolicy d/x')), step('after')], x, end);
  t.same(x.ran, ['a', 'deny']);
  t.same(x.ends, ['refused WEFT_ERR_IP_DENIED no by IpAccessPolicy d/x']);
});

t.test('a step that answers stops the chain', async (t) => {
  const x = ctx();
  runSteps([step('preflight', answer(204, {})), step('after')], x, end);
  t.same(x.ran, ['preflight']);
  t.same(x.ends, ['answered 204']);
});

t.test('a step that takes the exchange over stops the chain without an answer from the runner', async (t) => {
  const x = ctx();
  runSteps([step('forward', HANDED_OVER), step('after')], x, end);
  t.same(x.ran, ['forward']);
  t.same(x.ends, []);
});

t.test('a wait resumes the chain at the next step with its outcome', async (t) => {
  const x = ctx();
  let release: (r: StepResult) => void = () => undefined;
  const later = new Promise<StepResult>((r) => (release = r));
  const finished = new Promise<void>((resolve) => {
    runSteps([step('a'), step('token', wait(later)), step('b'), (y) => (y.ran.push('c'), resolve(), CONTINUE)], x, end);
  });
  t.same(x.ran, ['a', 'token'], 'nothing after the wait runs before it settles');
  release(CONTINUE);
  await finished;
  t.same(x.ran, ['a', 'token', 'b', 'c']);
});

t.test('a wait that settles with a refusal answers it and runs nothing more', async (t) => {
  const x = ctx();
  const settled = Promise.resolve<StepResult>(refusal('WEFT_ERR_UNAUTHORIZED', 'bad token'));
  runSteps([step('token', wait(settled)), step('after')], x, end);
  await settled;
  await new Promise((r) => setImmediate(r));
  t.same(x.ran, ['token']);
  t.same(x.ends, ['refused WEFT_ERR_UNAUTHORIZED bad token']);
});

t.test('nothing runs after a wait when the client left meanwhile', async (t) => {
  const x = ctx();
  let release: (r: StepResult) => void = () => undefined;
  const later = new Promise<StepResult>((r) => (release = r));
  runSteps([step('token', wait(later)), step('after')], x, end);
  x.over = true;
  release(CONTINUE);
  await later;
  await new Promise((r) => setImmediate(r));
  t.same(x.ran, ['token']);
  t.same(x.ends, []);
});

t.test('a step that throws fails its request and the steps after it do not run', async (t) => {
  const x = ctx();
  const boom: Step<Ctx> = () => {
    throw new Error('bug');
  };
  t.doesNotThrow(() => runSteps([step('a'), boom, step('after')], x, end));
  t.same(x.ran, ['a']);
  t.same(x.ends, ['failed bug']);
});

t.test('a rejected wait, or a throw after one, fails the request instead of escaping', async (t) => {
  const x = ctx();
  const rejected = Promise.reject(new Error('lost'));
  runSteps([() => wait(rejected), step('after')], x, end);
  await rejected.catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  t.same(x.ends, ['failed lost']);
  const y = ctx();
  const boom: Step<Ctx> = () => {
    throw new Error('bug after wait');
  };
  const ok = Promise.resolve<StepResult>(CONTINUE);
  runSteps([() => wait(ok), boom, step('after')], y, end);
  await ok;
  await new Promise((r) => setImmediate(r));
  t.same(y.ends, ['failed bug after wait']);
  t.same(y.ran, []);
});

t.test('a finished exchange runs no step at all', async (t) => {
  const x = ctx();
  x.over = true;
  runSteps([step('a')], x, end);
  t.same(x.ran, []);
});

t.test('an answer that cannot be written fails the request instead of escaping the runner', async (t) => {
  const x = ctx();
  const fragile: ChainEnd<Ctx> = {
    ...end,
    refused: () => {
      throw new Error('header not writable');
    },
  };
  t.doesNotThrow(() => runSteps([step('deny', refusal('WEFT_ERR_IP_DENIED', 'no'))], x, fragile));
  t.same(x.ends, ['failed header not writable']);
});
