// The original destination of a connection that iptables REDIRECTed to the proxy: the pod IP and
// port the app really dialled. Node has no SO_ORIGINAL_DST, so a small N-API addon
// (proxy/capture/native/original_dst.c, built at install) reads it from the socket's fd.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WeftError } from '../../lib/errors.js';

/** Where a captured connection was headed. */
export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** The addon's surface. */
interface OriginalDstAddon {
  originalDestination(fd: number): OriginalDestination;
}

/** Path of the built addon, relative to the package root. */
export const ADDON_PATH = 'build/native/original_dst.node';

/** Finds the package root (the directory holding package.json) from this module's place in src or dist. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return dirname(fileURLToPath(import.meta.url));
    dir = parent;
  }
}

// The addon is a process-wide dlopen'd library either way; loading it once, on first use, keeps
// processes that never see opaque TCP (weft init, the CA) from needing it at all.
let loaded: OriginalDstAddon | WeftError | undefined;

/** Loads the addon, or returns the coded error saying why it cannot be used. */
export function loadOriginalDstAddon(): OriginalDstAddon | WeftError {
  if (loaded !== undefined) return loaded;
  const path = join(packageRoot(), ADDON_PATH);
  if (process.platform !== 'linux') {
    loaded = new WeftError('WEFT_ERR_ORIGINAL_DST_UNAVAILABLE', `SO_ORIGINAL_DST exists only on Linux (this is ${process.platform})`);
  } else if (!existsSync(path)) {
    loaded = new WeftError(
      'WEFT_ERR_ORIGINAL_DST_UNAVAILABLE',
      `${path} is missing: build it with \`npm run build:native\` (needs a C compiler and Node's headers)`,
    );
  } else {
    try {
      loaded = createRequire(import.meta.url)(path) as OriginalDstAddon;
    } catch (err) {
      loaded = new WeftError('WEFT_ERR_ORIGINAL_DST_UNAVAILABLE', `${path} does not load: ${(err as Error).message}`, { cause: err });
    }
  }
  return loaded;
}

/** The OS file descriptor behind a net.Socket (Linux, libuv TCP handle). */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Where the app meant this accepted connection to go before the nat REDIRECT. Throws
 * WEFT_ERR_ORIGINAL_DST_UNAVAILABLE without the addon and WEFT_ERR_ORIGINAL_DST when the kernel
 * has no answer (the socket is closed, or the connection was not tracked).
 */
export function originalDestination(socket: Socket): OriginalDestination {
  const addon = loadOriginalDstAddon();
  if (addon instanceof WeftError) throw addon;
  const fd = socketFd(socket);
  if (fd === undefined) throw new WeftError('WEFT_ERR_ORIGINAL_DST', 'the socket has no file descriptor (closed, or not a TCP socket)');
  try {
    return addon.originalDestination(fd);
  } catch (err) {
    throw new WeftError('WEFT_ERR_ORIGINAL_DST', `reading the original destination failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * True when the connection was really redirected: an unredirected connection reports its own
 * local address as the original destination (the app dialled the proxy's port directly).
 */
export function wasRedirected(socket: Socket, destination: OriginalDestination): boolean {
  return !(destination.port === socket.localPort && sameAddress(destination.address, socket.localAddress ?? ''));
}

function sameAddress(a: string, b: string): boolean {
  const strip = (s: string): string => s.replace(/^::ffff:/i, '').toLowerCase();
  return strip(a) === strip(b);
}
