/** Shared helpers of the squashfs unit tests. */
import type { Compressor } from "../../src/squashfs/compressor/compressor.js";

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}

/** A compressor that never helps (every block stored raw), so layouts are easy to predict. */
export const rawCompressor: Compressor = {
  id: 1,
  name: "gzip",
  level: 6,
  backend: "raw (test)",
  options: null,
  async compress(data) {
    return data;
  },
  compressSync(data) {
    return data;
  },
  async decompress(data) {
    return data;
  },
  decompressSync(data) {
    return data;
  },
};

/** A compressor that halves every block (fake bytes), so refs must follow compressed sizes. */
export function halvingCompressor(): Compressor {
  const half = (data: Uint8Array): Uint8Array => data.subarray(0, Math.ceil(data.length / 2));
  return {
    ...rawCompressor,
    async compress(data) {
      return half(data);
    },
    compressSync: half,
  };
}
