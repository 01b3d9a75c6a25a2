// A process serving the proxy's real admin routes (/debug/tap, /debug/recent-failures, over the
// real admin server) on the addresses given as arguments, for tests that must reach it from a
// non-loopback address inside a network namespace. Prints "listening" once every address is bound.
import { Registry } from 'prom-client';
import { startAdminServer } from '../../lib/admin-server.js';
import { parseHostPort } from '../../lib/config.js';
import { TapHub } from '../../proxy/tap/tap-hub.js';
import { tapRoutes } from '../../proxy/tap/tap-admin.js';

const hub = new TapHub(() => performance.now(), Date.now, 10);
for (const arg of process.argv.slice(2)) {
  const addr = parseHostPort(arg, '127.0.0.1');
  if (typeof addr === 'string') throw new Error(`${arg}: ${addr}`);
  await startAdminServer(addr, { registry: new Registry(), readiness: () => ({ ready: true, reasons: [] }), debugEndpoints: () => ({}), routes: tapRoutes(hub) });
}
process.stdout.write('listening\n');
