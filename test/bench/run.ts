// `npm run bench`: runs every benchmark section in one process, one after another (they share
// two cores), and prints each figure beside its baseline from the same run.
import { renderSection, type BenchSection } from './report.js';
import { benchMesh } from './mesh.js';
import { benchGateway } from './gateway.js';
import { benchInjector } from './injector.js';
import { benchCa } from './ca.js';
import { benchDiscovery } from './discovery.js';
import { benchTraffic } from './traffic.js';
import { benchAuthz } from './authz.js';
import { benchTracing } from './tracing.js';
import { benchInbound } from './inbound.js';
import { benchAccessLine } from './access-line.js';
import { benchGatewayAccessLine } from './gateway-access-line.js';

/** Every section, in the order they run. Add a line for a new section. */
const SECTIONS: readonly { readonly name: string; readonly run: () => Promise<BenchSection> }[] = [
  { name: 'mesh', run: benchMesh },
  { name: 'gateway', run: benchGateway },
  { name: 'injector', run: benchInjector },
  { name: 'ca', run: benchCa },
  { name: 'discovery', run: benchDiscovery },
  { name: 'traffic', run: benchTraffic },
  { name: 'authz', run: benchAuthz },
  { name: 'tracing', run: benchTracing },
  { name: 'inbound', run: benchInbound },
  { name: 'access-line', run: benchAccessLine },
  { name: 'gateway-access-line', run: benchGatewayAccessLine },
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  let failed = false;
  for (const section of SECTIONS) {
    if (only.length > 0 && !only.includes(section.name)) continue;
    process.stdout.write(`running ${section.name}...\n`);
    try {
      process.stdout.write(renderSection(await section.run()) + '\n');
    } catch (err) {
      failed = true;
      process.stdout.write(`== ${section.name}: FAILED: ${(err as Error).stack ?? String(err)}\n\n`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
