/**
 * SHA3-224, the hash Golem providers check while downloading an image (yagna exe-unit transfer)
 * and the hash requestors put in their demand (`hash:sha3:<hex>:<url>`).
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

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

/** SHA3-224 (lowercase hex) and size of a file, read once as a stream. */
export async function sha3File(path: string): Promise<{ sha3: string; size: number }> {
  const hasher = new Sha3Hasher();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }))
    hasher.update(chunk as Buffer);
  return { sha3: hasher.digest(), size: hasher.size };
}
