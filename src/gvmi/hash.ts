/**
 * SHA3-224, the hash Golem providers check while downloading an image (yagna exe-unit transfer)
 * and the hash requestors put in their demand (`hash:sha3:<hex>:<url>`).
 */
import { createHash, type Hash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";

export const SHA3_224_HEX_LENGTH = 56;

/** An incremental SHA3-224 that also counts bytes, fed while a file is written. */
export class Sha3Hasher {
  #hash: Hash = createHash("sha3-224");
  #size = 0;
  #digest: string | undefined;

  update(data: Uint8Array): this {
    if (this.#digest !== undefined) throw new Error("Sha3Hasher used after digest()");
    this.#hash.update(data);
    this.#size += data.length;
    return this;
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.#size;
  }

  /** Lowercase hex digest; idempotent. */
  digest(): string {
    this.#digest ??= this.#hash.digest("hex");
    return this.#digest;
  }
}

/** Read size of `hashFileRange`: large enough that the syscalls do not matter, reused throughout. */
const HASH_READ_SIZE = 1 << 20;

/**
 * Feed bytes [0, length) of an open file to `hasher` through two reused buffers: the next read
 * runs on libuv's thread pool while this thread hashes the previous one.
 *
 * A read stream would hand over a fresh 1 MiB buffer per chunk: for a 400 MB image that is 400 MB
 * of garbage ArrayBuffers at the very end of a conversion, which showed up as the run's peak RSS
 * (+45 MiB). With one buffer, each read waited for the hash and each hash for the read: a 380 MB
 * image took 0.9-1.2 s to hash, 0.75-0.83 s now (node's SHA3-224 runs at ~440 MB/s here).
 * A file shorter than `length` is an error: callers hash exactly what they stat'ed.
 */
export async function hashFileRange(
  handle: FileHandle,
  length: number,
  hasher: Sha3Hasher,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  const size = Math.min(HASH_READ_SIZE, Math.max(length, 1));
  const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)] as const;
  const readAt = (buffer: Buffer, position: number) =>
    handle.read(buffer, 0, Math.min(size, length - position), position);
  let position = 0;
  let turn = 0;
  let pending = length > 0 ? readAt(buffers[0], 0) : null;
  while (pending !== null) {
    const { bytesRead, buffer } = await pending;
    if (bytesRead === 0)
      throw new Error(`file ended after ${position} of ${length} bytes while being hashed`);
    position += bytesRead;
    turn ^= 1;
    pending = position < length ? readAt(buffers[turn]!, position) : null;
    hasher.update(buffer.subarray(0, bytesRead));
    onBytes?.(bytesRead);
  }
}

/** SHA3-224 (lowercase hex) and size of a file, read once; `onBytes` hears each read (progress). */
export async function sha3File(
  path: string,
  onBytes?: (bytes: number) => void,
): Promise<{ sha3: string; size: number }> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const hasher = new Sha3Hasher();
    await hashFileRange(handle, size, hasher, onBytes);
    return { sha3: hasher.digest(), size: hasher.size };
  } finally {
    await handle.close();
  }
}
