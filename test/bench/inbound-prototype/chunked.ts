// Finds where a chunked body ends (RFC 9112 7.1) without copying or decoding it: the prototype
// passes the chunk bytes through as they are and only needs the boundary. Strict on the framing
// bytes: CRLF exactly, chunk sizes of at most 13 hex digits (below 2^53), bounded extensions and
// trailers, no obs-fold in trailers.

// The framer's states.
const State = { Size: 0, Ext: 1, SizeLf: 2, Data: 3, DataCr: 4, DataLf: 5, LineStart: 6, TrailerLine: 7, TrailerLf: 8, EndLf: 9, Done: 10, Failed: 11 } as const;

const MAX_SIZE_DIGITS = 13;
const MAX_LINE = 4096;

/** Tracks one chunked body across the chunks it arrives in. */
export class ChunkedFramer {
  #state: number = State.Size;
  #size = 0;
  #digits = 0;
  #line = 0;
  #error = '';

  /** Why the body was refused ('' while it is well-formed). */
  get error(): string {
    return this.#error;
  }

  /** The whole body, the last chunk and trailers included, has been seen. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Reads `buf` from `start`; returns the index just past the body's last byte in `buf` when the
   * body ends there, `buf.length` when all of it belongs to the body, or -1 when the framing is
   * refused (see `error`).
   */
  feed(buf: Buffer, start = 0): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      const c = buf[i] ?? 0;
      switch (this.#state) {
        case State.Size: {
          const d = hex(c);
          if (d >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) return this.#fail('chunk size too large');
            this.#size = this.#size * 16 + d;
          } else if (this.#digits === 0) {
            return this.#fail('chunk size missing');
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.#state = State.Ext;
            this.#line = 0;
          } else if (c === 0x0d) {
            this.#state = State.SizeLf;
          } else {
            return this.#fail('bad chunk size');
          }
          i++;
          break;
        }
        case State.Ext:
          if (c === 0x0d) this.#state = State.SizeLf;
          else if (c === 0x0a) return this.#fail('bare LF');
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) return this.#fail('control character in a chunk extension');
          else if (++this.#line > MAX_LINE) return this.#fail('chunk extension too long');
          i++;
          break;
        case State.SizeLf:
          if (c !== 0x0a) return this.#fail('bare CR');
          i++;
          if (this.#size === 0) {
            this.#state = State.LineStart;
          } else {
            this.#state = State.Data;
          }
          break;
        case State.Data: {
          const take = Math.min(this.#size, n - i);
          this.#size -= take;
          i += take;
          if (this.#size === 0) this.#state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (c !== 0x0d) return this.#fail('chunk data longer than its size');
          this.#state = State.DataLf;
          i++;
          break;
        case State.DataLf:
          if (c !== 0x0a) return this.#fail('bare CR');
          this.#state = State.Size;
          this.#digits = 0;
          i++;
          break;
        case State.LineStart:
          if (c === 0x0d) {
            this.#state = State.EndLf;
          } else if (c === 0x20 || c === 0x09) {
            return this.#fail('obs-fold in a trailer');
          } else if (c === 0x0a) {
            return this.#fail('bare LF');
          } else {
            this.#state = State.TrailerLine;
            this.#line = 1;
          }
          i++;
          break;
        case State.TrailerLine:
          if (c === 0x0d) this.#state = State.TrailerLf;
          else if (c === 0x0a) return this.#fail('bare LF');
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) return this.#fail('control character in a trailer');
          else if (++this.#line > MAX_LINE) return this.#fail('trailer too long');
          i++;
          break;
        case State.TrailerLf:
          if (c !== 0x0a) return this.#fail('bare CR');
          this.#state = State.LineStart;
          i++;
          break;
        case State.EndLf:
          if (c !== 0x0a) return this.#fail('bare CR');
          this.#state = State.Done;
          return i + 1;
        case State.Done:
          return i;
        case State.Failed:
          return -1;
      }
    }
    return this.#state === State.Done ? i : n;
  }

  #fail(reason: string): number {
    this.#state = State.Failed;
    this.#error = reason;
    return -1;
  }
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
