// Reading /proc/net/tcp for a listener, and finding this very process as the holder of its own socket.
import t from 'tap';
import { createServer } from 'node:net';
import { checkAddressesFree, findHolder, listenerInodes, ownsListener } from '../../../cli/up/port-holder.js';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 010A007F:1B6C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 515151 1 0000000000000000 100 0 0 10 0
   2: 010A007F:1B6C 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 999999 1 0000000000000000 100 0 0 10 0
`;

t.test('finds the listener of an exact address and of the wildcard, never a connection', async (t) => {
  t.same(listenerInodes(SAMPLE, '127.0.10.1', 7020), ['424242']);
  t.same(listenerInodes(SAMPLE, '127.0.10.1', 8080), ['515151'], '0.0.0.0:8080 takes 127.0.10.1:8080 too');
  t.same(listenerInodes(SAMPLE, '127.0.10.2', 7020), []);
});

t.test('names this process as the holder of its own listener, and refuses the busy address', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  t.equal(await ownsListener(process.pid, { host: '127.0.0.1', port }), true);
  t.equal((await findHolder({ host: '127.0.0.1', port }))?.pid, process.pid);
  await t.rejects(checkAddressesFree([{ address: { host: '127.0.0.1', port }, what: 'admin of web-0' }]), {
    code: 'WEFT_ERR_LISTEN',
    message: new RegExp(`^127\\.0\\.0\\.1:${port} \\(admin of web-0\\) is already in use by pid ${process.pid} \\(`),
  });
  server.close();
  await new Promise((r) => setImmediate(r));
  await checkAddressesFree([{ address: { host: '127.0.0.1', port }, what: 'x' }]);
  t.pass('a free address passes');
});
