// The injector's serving certificate: tls.crt/tls.key read from a mounted Secret directory and
// reloaded when the kubelet swaps the Secret's files (an atomic symlink flip in that directory).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

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
export function watchServingCert(dir: string, current: ServingCert, onChange: (c: ServingCert) => void, logger: Logger): () => void {
  let last = current;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    readServingCert(dir).then(
      (next) => {
        if (next.cert === last.cert && next.key === last.key) return;
        last = next;
        logger.info({ dir }, 'serving certificate reloaded');
        onChange(next);
      },
      (err: unknown) => logger.error({ dir, code: (err as WeftError).code, err: (err as Error).message }, 'serving certificate update ignored'),
    );
  };
  let watcher: FSWatcher | undefined;
  try {
    // Debounced: a Secret update touches several entries in one flip.
    watcher = watch(dir, () => {
      clearTimeout(timer);
      timer = setTimeout(check, 100);
    });
    watcher.on('error', (err) => logger.warn({ dir, err: err.message }, 'watching the serving certificate failed'));
  } catch (err) {
    logger.warn({ dir, err: (err as Error).message }, 'cannot watch the serving certificate directory');
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
