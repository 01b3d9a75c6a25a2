// The V8 heap bound every weft sidecar runs with, passed as NODE_OPTIONS by whoever starts it (the
// injector, from the proxy container's memory limit; `weft up`, with no limit). Without a bound
// V8 sizes its heap from the machine (gigabytes) and lets garbage pile up: a 200 MB body streamed
// through a Node 24 sidecar left 76-90 MB of RSS behind, against 33-41 MB with a 64 MB bound
// (test/e2e/mesh-bodies.test.ts), as Istio bounds its Go agent with GOMEMLIMIT.

const MIB = 2 ** 20;

/** The old-space bound of a sidecar without a memory limit, and the least any limit gets. */
export const SIDECAR_OLD_SPACE_MB = 64;

/** The share of a container memory limit given to V8's old space: the rest is code, buffers and stacks. */
const LIMIT_SHARE = 0.4;

/** NODE_OPTIONS for a sidecar whose container may use `memoryLimitBytes` (undefined: no limit). */
export function sidecarNodeOptions(memoryLimitBytes: number | undefined): string {
  const mb = memoryLimitBytes === undefined ? SIDECAR_OLD_SPACE_MB : Math.max(SIDECAR_OLD_SPACE_MB, Math.floor((memoryLimitBytes / MIB) * LIMIT_SHARE));
  return `--max-old-space-size=${mb}`;
}

/**
 * The young-generation bound a proxy sidecar runs with, in MB per semi-space. V8's default lets
 * each semi-space grow to 16 MB under load (32 MB of new space) whatever the old-space bound. 8 MB
 * took 10-35 MB off a bench proxy's peak RSS at 64 connections for 3-9 us more GC per request
 * (1-3 %); 4 MB saved a little more for 8-22 us (over 5 %), 1-2 MB cost 40-115 us (docs/injection.md).
 */
export const PROXY_SEMI_SPACE_MB = 8;

/** NODE_OPTIONS for a proxy sidecar: the heap bound of `sidecarNodeOptions` and the semi-space bound. */
export function proxyNodeOptions(memoryLimitBytes: number | undefined): string {
  return `${sidecarNodeOptions(memoryLimitBytes)} --max-semi-space-size=${PROXY_SEMI_SPACE_MB}`;
}
