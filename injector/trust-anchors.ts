// The injector's trust anchors: roots.pem read from its mounted `weft-trust-anchors` ConfigMap
// (weft's own namespace) and re-read when the kubelet swaps the ConfigMap's files.
import { readFile } from 'node:fs/promises';
import { WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { checkTrustAnchorsPem } from '../lib/trust-anchors.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { WatchedFile } from '../lib/watched-file.js';

/** Reads and checks the bundle; throws WEFT_ERR_INJECT_NO_TRUST_ANCHORS naming the file and why. */
export async function readTrustAnchors(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new WeftError('WEFT_ERR_INJECT_NO_TRUST_ANCHORS', `cannot read the trust anchors ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return checkTrustAnchorsPem(text);
  } catch (err) {
    throw new WeftError('WEFT_ERR_INJECT_NO_TRUST_ANCHORS', `the trust anchors ${file} ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Calls `onChange` whenever the file's bundle changes and still checks out. A broken or missing
 * update is logged and the current bundle stays: proxies keep getting the last good roots. The
 * directory is watched (a ConfigMap update is an atomic symlink flip) and also polled every
 * `pollMs`, because an optional ConfigMap created later appears without a flip. Returns stop().
 */
export function watchTrustAnchors(
  file: string,
  current: string | undefined,
  onChange: (pem: string) => void,
  logger: Logger,
  pollMs = 10_000,
  timers: Timers = realTimers,
): () => void {
  let lastError = '';
  const watched = new WatchedFile<string>({
    paths: [file],
    anyNameInDirectory: true,
    read: async () => {
      const pem = await readTrustAnchors(file);
      lastError = '';
      return pem;
    },
    same: (a, b) => a === b,
    apply: (next) => {
      logger.info({ file }, 'trust anchors reloaded');
      onChange(next);
    },
    onError: (err) => {
      const message = (err as Error).message;
      // Logged once per distinct problem, not every poll.
      if (message !== lastError) logger.error({ file, code: (err as WeftError).code, err: message }, 'trust anchors update ignored');
      lastError = message;
    },
    onWatchError: (err) => logger.warn({ file, err: err.message }, 'watching the trust anchors failed; polling'),
    timers,
    debounceMs: 100,
    pollMs,
  });
  watched.start(current);
  return () => watched.close();
}
