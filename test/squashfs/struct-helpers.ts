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
};

/** A compressor that halves every block (fake bytes), with a deliberate random delay, to test ordering. */
export function halvingCompressor(delays: number[] = [5, 0, 3, 1]): Compressor {
  let n = 0;
  return {
    ...rawCompressor,
    async compress(data) {
      const d = delays[n++ % delays.length]!;
      await new Promise((r) => setTimeout(r, d));
      return data.subarray(0, Math.ceil(data.length / 2));
    },
  };
}
