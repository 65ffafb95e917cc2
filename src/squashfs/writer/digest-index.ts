/**
 * Content digests (32 bytes) → the layout id of the first file with that content, for the data
 * writer's duplicate detection. Packed: digests back to back in one buffer and an open-addressing
 * table of indices. A Map of 32-character strings was ~80 bytes per file, for as long as the
 * image is written; this is ~44 (issue 12).
 */
const DIGEST = 32;

export class DigestIndex {
  #digests = new Uint8Array(DIGEST * 1024);
  #ids = new Uint32Array(1024);
  #count = 0;
  /** entry + 1, 0 = empty; a power of two, at most half full. */
  #slots = new Int32Array(2048);

  get size(): number {
    return this.#count;
  }

  /** The id stored for `digest`, or -1. */
  get(digest: Uint8Array): number {
    const entry = this.#find(digest);
    return entry < 0 ? -1 : this.#ids[entry]!;
  }

  /** Stores `id` for `digest` (which must not be present). */
  set(digest: Uint8Array, id: number): void {
    if (digest.length !== DIGEST) throw new RangeError(`a digest is ${DIGEST} bytes`);
    const entry = this.#count++;
    if (entry >= this.#ids.length) {
      const ids = new Uint32Array(this.#ids.length * 2);
      ids.set(this.#ids);
      this.#ids = ids;
      const digests = new Uint8Array(this.#digests.length * 2);
      digests.set(this.#digests);
      this.#digests = digests;
    }
    this.#digests.set(digest, entry * DIGEST);
    this.#ids[entry] = id;
    if (this.#count * 2 > this.#slots.length) {
      const old = this.#slots;
      this.#slots = new Int32Array(old.length * 2);
      for (const v of old) if (v !== 0) this.#insert(v - 1);
    }
    this.#insert(entry);
  }

  clear(): void {
    this.#digests = new Uint8Array(0);
    this.#ids = new Uint32Array(0);
    this.#slots = new Int32Array(2);
    this.#count = 0;
  }

  /** A digest's first four bytes: a cryptographic digest needs no further mixing. */
  #hash(bytes: Uint8Array, at: number): number {
    return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
  }

  #insert(entry: number): void {
    const mask = this.#slots.length - 1;
    let s = this.#hash(this.#digests, entry * DIGEST) & mask;
    while (this.#slots[s] !== 0) s = (s + 1) & mask;
    this.#slots[s] = entry + 1;
  }

  #find(digest: Uint8Array): number {
    if (digest.length !== DIGEST) throw new RangeError(`a digest is ${DIGEST} bytes`);
    const mask = this.#slots.length - 1;
    const digests = this.#digests;
    for (let s = this.#hash(digest, 0) & mask; ; s = (s + 1) & mask) {
      const v = this.#slots[s]!;
      if (v === 0) return -1;
      const at = (v - 1) * DIGEST;
      let same = true;
      for (let i = 0; i < DIGEST; i++) {
        if (digests[at + i] !== digest[i]) {
          same = false;
          break;
        }
      }
      if (same) return v - 1;
    }
  }
}
