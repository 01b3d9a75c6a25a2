import t from 'tap';
import { ConfigReader, parseHostPort } from '../../../lib/config.js';

t.test('reads typed values with fallbacks', async (t) => {
  const c = new ConfigReader({ A: '5', B: 'true', C: 'x,y, ,z', D: '127.0.0.2:81', E: 'info' });
  t.equal(c.integer('A', 1), 5);
  t.equal(c.integer('MISSING', 7), 7);
  t.equal(c.boolean('B', false), true);
  t.same(c.list('C'), ['x', 'y', 'z']);
  t.same(c.hostPort('D', { host: '0.0.0.0', port: 1 }), { host: '127.0.0.2', port: 81 });
  t.equal(c.oneOf('E', ['info', 'debug'] as const, 'debug'), 'info');
  t.doesNotThrow(() => c.done());
});

t.test('lists every problem at once', async (t) => {
  const c = new ConfigReader({ A: 'five', B: 'maybe', D: 'host:port', E: 'loud', F: '99999' });
  c.integer('A', 1);
  c.boolean('B', false);
  c.hostPort('D', { host: 'h', port: 1 });
  c.oneOf('E', ['info', 'debug'] as const, 'info');
  c.integer('F', 1, { max: 65535 });
  c.required('G');
  const err = (() => {
    try {
      c.done();
    } catch (e) {
      return e as Error & { code: string };
    }
    return undefined;
  })();
  t.equal(err?.code, 'WEFT_ERR_CONFIG');
  for (const name of ['A=', 'B=', 'D=', 'E=', 'F=', 'G is required']) t.match(err?.message, name);
});

t.test('parses host:port forms', async (t) => {
  t.same(parseHostPort('8080', '127.0.0.1'), { host: '127.0.0.1', port: 8080 });
  t.same(parseHostPort('[::1]:7001', 'x'), { host: '::1', port: 7001 });
  t.match(parseHostPort(':80', 'x'), /host is empty/);
  t.match(parseHostPort('a:70000', 'x'), /out of range/);
});
