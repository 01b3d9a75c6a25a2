// The injector's serving certificate: tls.crt/tls.key read from a mounted Secret directory and
// reloaded when the kubelet swaps the Secret's files (an atomic symlink flip in that directory).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { WatchedFile } from '../lib/watched-file.js';

/** PEM certificate chain and key, already checked to form a usable TLS context. */
export interface ServingCert {
  readonly cert: string;
  readonly key: string;
}

/** Reads and checks tls.crt and tls.key; throws WEFT_ERR_SERVING_CERT naming the file and why. */
export async function readServingCert(dir: string): Promise<ServingCert> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (err) {
      throw new WeftError('WEFT_ERR_SERVING_CERT', `cannot read ${join(dir, name)}: ${(err as Error).message}`, { cause: err });
    }
  };
  const cert = await read('tls.crt');
  const key = await read('tls.key');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new WeftError('WEFT_ERR_SERVING_CERT', `${dir}/tls.crt and tls.key do not form a usable TLS identity: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { cert, key };
}

/**
 * Calls `onChange` with the new certificate whenever the directory's files change and still form
 * a usable identity; a broken update is logged and the current certificate stays. Returns stop().
 */
export function watchServingCert(
  dir: string,
  current: ServingCert,
  onChange: (c: ServingCert) => void,
  logger: Logger,
  timers: Timers = realTimers,
): () => void {
  const watched = new WatchedFile<ServingCert>({
    paths: [join(dir, 'tls.crt'), join(dir, 'tls.key')],
    anyNameInDirectory: true,
    read: () => readServingCert(dir),
    same: (a, b) => a.cert === b.cert && a.key === b.key,
    apply: (next) => {
      logger.info({ dir }, 'serving certificate reloaded');
      onChange(next);
    },
    onError: (err) => logger.error({ dir, code: (err as WeftError).code, err: (err as Error).message }, 'serving certificate update ignored'),
    onWatchError: (err) => logger.warn({ dir, err: err.message }, 'watching the serving certificate failed'),
    timers,
    // A Secret update touches several entries in one flip.
    debounceMs: 100,
  });
  watched.start(current);
  return () => watched.close();
}
