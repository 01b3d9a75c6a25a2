import t from 'tap';
import tls from 'node:tls';
import net from 'node:net';
import { readSni } from '../../../../proxy/capture/sni.js';

// A real ClientHello, as Node's TLS client writes it, captured from a plain TCP server.
async function clientHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
      client.on('error', () => {});
    });
    server.on('error', reject);
  });
}

t.test('reads the server name from a real ClientHello', async (t) => {
  t.equal(readSni(await clientHello('api.example.com')), 'api.example.com');
  t.equal(readSni(await clientHello('MiXeD.Example.org')), 'mixed.example.org');
});

t.test('no server name, not TLS, or cut short: undefined', async (t) => {
  t.equal(readSni(await clientHello(undefined)), undefined, 'no SNI (an IP literal)');
  t.equal(readSni(Buffer.from('PING x\n')), undefined);
  t.equal(readSni(Buffer.alloc(0)), undefined);
  const hello = await clientHello('api.example.com');
  t.equal(readSni(hello.subarray(0, 60)), undefined, 'truncated before the extensions');
});
