/**
 * Positional reads from a byte range of a file: a .gvmi holds its SquashFS first, followed by the
 * trailer, so the reader addresses image positions (0 = superblock) inside [offset, offset+length).
 * Nothing is ever loaded whole; each read is bounded by the range, so a corrupt size field ends as
 * a typed error instead of a read past the image.
 */
import type { FileHandle } from "node:fs/promises";
import { SquashfsTruncatedError } from "./errors.js";

/** Largest single read the reader ever needs: a 1 MiB data block plus slack. Larger means corrupt. */
export const MAX_READ = (1 << 20) + 64;

export class ByteSource {
  readonly #handle: FileHandle;
  readonly #offset: number;
  /** Bytes of the range: the largest image position + 1 that can be read. */
  readonly size: number;

  constructor(handle: FileHandle, offset: number, size: number) {
    this.#handle = handle;
    this.#offset = offset;
    this.size = size;
  }

  /** Exactly `length` bytes at image position `position`, or SquashfsTruncatedError. */
  async read(position: number, length: number, limit = this.size): Promise<Uint8Array> {
    const end = Math.min(limit, this.size);
    if (
      !Number.isSafeInteger(position) ||
      !Number.isSafeInteger(length) ||
      position < 0 ||
      length < 0 ||
      length > MAX_READ ||
      position + length > end
    ) {
      throw new SquashfsTruncatedError(position, length, end);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#handle.read(out, done, length - done, this.#offset + position + done);
      // The file shrank under us: the same as a truncated image.
      if (bytesRead === 0) throw new SquashfsTruncatedError(position, length, position + done);
      done += bytesRead;
    }
    return out;
  }

  /** The same file, readable only up to image position `size` (e.g. bytes_used). */
  narrow(size: number): ByteSource {
    return new ByteSource(this.#handle, this.#offset, Math.min(size, this.size));
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
