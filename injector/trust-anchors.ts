// The injector's trust anchors: roots.pem read from its mounted `weft-trust-anchors` ConfigMap
// (weft's own namespace) and re-read when the kubelet swaps the ConfigMap's files.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { checkTrustAnchorsPem } from '../lib/trust-anchors.js';

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
): () => void {
  let last = current;
  let lastError = '';
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    readTrustAnchors(file).then(
      (next) => {
        lastError = '';
        if (next === last) return;
        last = next;
        logger.info({ file }, 'trust anchors reloaded');
        onChange(next);
      },
      (err: unknown) => {
        const message = (err as Error).message;
        // Logged once per distinct problem, not every poll.
        if (message !== lastError) logger.error({ file, code: (err as WeftError).code, err: message }, 'trust anchors update ignored');
        lastError = message;
      },
    );
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), () => {
      clearTimeout(timer);
      timer = setTimeout(check, 100);
    });
    watcher.on('error', (err) => logger.warn({ file, err: err.message }, 'watching the trust anchors failed'));
  } catch (err) {
    logger.warn({ file, err: (err as Error).message }, 'cannot watch the trust anchors directory; polling only');
  }
  const poll = setInterval(check, pollMs);
  poll.unref();
  return () => {
    clearTimeout(timer);
    clearInterval(poll);
    watcher?.close();
  };
}
