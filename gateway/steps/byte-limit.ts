// The request body's size limit counted while the body streams (both upstream clients use it).
import { Transform, type TransformCallback } from 'node:stream';

/** The error a body over its limit fails the upstream request with. */
export const BODY_LIMIT_CODE = 'WEFT_BODY_LIMIT';

/** Counts body bytes as they stream and fails once the limit is passed (nothing is buffered). */
export class ByteLimit extends Transform {
  readonly #max: number;
  #seen = 0;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#max) {
      const err = Object.assign(new Error(`body over ${this.#max} bytes`), { code: BODY_LIMIT_CODE });
      cb(err);
      return;
    }
    cb(null, chunk);
  }
}
