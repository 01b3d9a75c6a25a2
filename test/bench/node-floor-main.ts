// Runs the minimal Node proxy as its own process (so its CPU can be read from /proc):
// node node-floor-main.js <listen host> <listen port> <upstream host> <upstream port>.
import { startNodeFloorProxy } from './node-floor.js';

const [host = '127.0.0.1', port = '7001', upHost = '127.0.0.1', upPort = '8080'] = process.argv.slice(2);
const proxy = await startNodeFloorProxy(host, Number(port), { host: upHost, port: Number(upPort) });
process.on('SIGTERM', () => {
  proxy.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`node-floor: stop failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
