import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  createCompressor,
  InvalidCompressionLevelError,
  InvalidBlockSizeError,
  UnknownCompressionError,
} from "../../../src/squashfs/compressor/index.js";
import type { CompressionName, XzBackend } from "../../../src/squashfs/options.js";
import { XzCompressor } from "../../../src/squashfs/compressor/xz.js";
import {
  lzma2DictByte,
  lzma2DictSize,
  xzBlockHeader,
  xzIndex,
  xzStreamFooter,
  xzStreamHeader,
} from "../../../src/squashfs/compressor/xz-container.js";

/** Compressible but not trivial: text-like lines with varying numbers. */
function sample(size: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (parts.join("").length < size) parts.push(`line ${n} value=${(n++ * 2654435761) % 100000}\n`);
  return Buffer.from(parts.join("")).subarray(0, size);
}

const BLOCK = 131072;

for (const name of ["gzip", "xz"] as CompressionName[]) {
  test(`${name}: compress/compressSync round-trip`, async () => {
    const c = createCompressor({ name, level: name === "gzip" ? 6 : 1, blockSize: BLOCK });
    for (const data of [sample(BLOCK), sample(100), randomBytes(5000), Buffer.alloc(BLOCK)]) {
      const a = await c.compress(data);
      const b = c.compressSync(data);
      assert.ok(Buffer.from(a).equals(Buffer.from(b)), "async and sync outputs are the same bytes");
      assert.ok(Buffer.from(await c.decompress(a, BLOCK)).equals(data));
    }
    await assert.rejects(c.decompress(c.compressSync(sample(BLOCK)), 1000));
  });
}

test("gzip output is a zlib stream that Python's zlib decodes", () => {
  const c = createCompressor({ name: "gzip", level: 9, blockSize: BLOCK });
  const data = sample(BLOCK);
  const out = execFileSync(
    "python3",
    ["-c", "import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))"],
    {
      input: c.compressSync(data),
    },
  );
  assert.ok(out.equals(data));
});

test("gzip options: none at mksquashfs's default level 9, the 8-byte struct otherwise", () => {
  assert.equal(createCompressor({ name: "gzip", level: 9, blockSize: BLOCK }).options, null);
  // What mksquashfs 4.5 writes for -Xcompression-level 6: level 6, window 15, strategies 0.
  const opts = createCompressor({ name: "gzip", level: 6, blockSize: BLOCK }).options;
  assert.deepEqual(Buffer.from(opts ?? []).toString("hex"), "060000000f000000");
  assert.equal(createCompressor({ name: "gzip", level: 6, blockSize: BLOCK }).id, 1);
});

/** The real xz tool accepts the block, sees a CRC32 check, and an LZMA2 dictionary of `blockSize`. */
function checkWithXzTool(block: Uint8Array, blockSize: number): void {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-xz-"));
  try {
    const file = join(dir, "block.xz");
    writeFileSync(file, block);
    execFileSync("xz", ["-t", file]);
    const robot = execFileSync("xz", ["--robot", "-lvv", file]).toString();
    assert.match(robot, /^stream\t.*\tCRC32\t/m);
    assert.match(robot, new RegExp(`--lzma2=.*dict=${blockSize >> 10}KiB`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("xz blocks are CRC32-checked XZ streams with a block-size dictionary that xz accepts", () => {
  const c = createCompressor({ name: "xz", level: 6, blockSize: BLOCK });
  assert.equal(c.id, 4);
  assert.equal(c.options, null);
  const block = c.compressSync(sample(BLOCK));
  // Stream header: magic FD 37 7A 58 5A 00, flags 00 01 (check type 1 = CRC32; CRC64 would be 04).
  assert.equal(Buffer.from(block.subarray(0, 8)).toString("hex"), "fd377a585a000001");
  // The block's filter chain: LZMA2 with dict = block size (128 KiB = "128KiB" in xz's notation).
  checkWithXzTool(block, BLOCK);
});

test("level, name and block size are validated with stable codes", () => {
  assert.throws(
    () => createCompressor({ name: "gzip", level: 0, blockSize: BLOCK }),
    (e: unknown) => e instanceof InvalidCompressionLevelError && e.code === "E_SQUASHFS_COMPRESSION_LEVEL",
  );
  assert.throws(
    () => createCompressor({ name: "gzip", level: 13, blockSize: BLOCK }),
    InvalidCompressionLevelError,
  );
  // zlib stops at 9; 10–12 are libdeflate's (libdeflate.test.ts).
  assert.throws(
    () => createCompressor({ name: "gzip", level: 10, blockSize: BLOCK, gzipBackend: "zlib" }),
    (e: unknown) => e instanceof InvalidCompressionLevelError && /libdeflate/.test(e.hint ?? ""),
  );
  assert.throws(
    () => createCompressor({ name: "xz", level: 1.5, blockSize: BLOCK }),
    InvalidCompressionLevelError,
  );
  assert.doesNotThrow(() => createCompressor({ name: "xz", level: 0, blockSize: BLOCK }));
  assert.throws(
    () => createCompressor({ name: "zstd" as CompressionName, level: 1, blockSize: BLOCK }),
    (e: unknown) => e instanceof UnknownCompressionError && e.code === "E_SQUASHFS_COMPRESSION_UNKNOWN",
  );
  assert.throws(
    () => createCompressor({ name: "gzip", level: 6, blockSize: 3000 }),
    (e: unknown) => e instanceof InvalidBlockSizeError && e.code === "E_SQUASHFS_BLOCK_SIZE",
  );
  assert.throws(
    () => createCompressor({ name: "gzip", level: 6, blockSize: 2 * 1024 * 1024 }),
    InvalidBlockSizeError,
  );
});

test("xz container: header, block header, index and footer bytes", () => {
  // Stream header: magic, flags 00 01 (CRC32), CRC32 of the flags.
  assert.equal(Buffer.from(xzStreamHeader()).toString("hex"), "fd377a585a0000016922de36");
  // Block header: size (12/4 − 1 = 2), flags 0, LZMA2 (21), 1 property byte, dict byte, padding, CRC32.
  assert.equal(Buffer.from(xzBlockHeader(BLOCK)).subarray(0, 8).toString("hex"), "020021010a000000");
  assert.equal(Buffer.from(xzBlockHeader(4096)).subarray(4, 5).toString("hex"), "00");
  assert.equal(
    Buffer.from(xzBlockHeader(1 << 20))
      .subarray(4, 5)
      .toString("hex"),
    "10",
  );
  assert.equal(lzma2DictByte(BLOCK), 10);
  assert.equal(lzma2DictSize(10), BLOCK);
  assert.equal(lzma2DictByte(3 << 16), 11); // 192 KiB is encodable: (2|1) << (11/2 + 11)
  assert.equal(lzma2DictByte(BLOCK + 1), 11); // rounds up, never down
  assert.equal(lzma2DictByte((3 << 16) + 1), 12);
  assert.ok(xzIndex(100, 5000).length % 4 === 0);
  // Footer for an 12-byte index: backward size 2, flags 00 01, magic YZ.
  assert.equal(Buffer.from(xzStreamFooter(12)).toString("hex"), "3e300d8b020000000001595a");
});

test("xz: both encoders (system liblzma via FFI, lzma-native) give the same bytes", () => {
  const auto = new XzCompressor(6, BLOCK);
  const native = new XzCompressor(6, BLOCK, "lzma-native");
  assert.equal(native.backend, "lzma-native");
  for (const data of [sample(BLOCK), sample(100), randomBytes(5000), Buffer.alloc(BLOCK), Buffer.alloc(0)]) {
    assert.ok(
      Buffer.from(auto.compressSync(data)).equals(Buffer.from(native.compressSync(data))),
      `${auto.backend} vs lzma-native, ${data.length} bytes`,
    );
  }
});

test("xz: the spec's xzBackend picks the encoder; the environment does not", () => {
  const saved = process.env.GVMCONV_XZ_BACKEND;
  process.env.GVMCONV_XZ_BACKEND = "lzma-native";
  try {
    const spec = { name: "xz", level: 6, blockSize: BLOCK } as const;
    assert.equal(
      (createCompressor({ ...spec, xzBackend: "lzma-native" }) as XzCompressor).backend,
      "lzma-native",
    );
    // Without the option: the system liblzma when it loads (it does on this test machine's Linux).
    const auto = createCompressor(spec) as XzCompressor;
    assert.equal(auto.backend, new XzCompressor(6, BLOCK, "liblzma").backend);
  } finally {
    if (saved === undefined) delete process.env.GVMCONV_XZ_BACKEND;
    else process.env.GVMCONV_XZ_BACKEND = saved;
  }
});

for (const backend of ["liblzma", "lzma-native"] as XzBackend[]) {
  test(`xz (${backend}): CRC32 check, dict ≤ block size in the block header, xz -t accepts, bounded decode`, async () => {
    for (const blockSize of [4096, BLOCK]) {
      const c = new XzCompressor(6, blockSize, backend);
      const data = Buffer.concat([sample(blockSize >> 1), randomBytes(blockSize >> 1)]);
      const block = Buffer.from(c.compressSync(data));
      assert.equal(block[7], 0x01, "stream flags: check type CRC32");
      // Block header starts at 12: size byte, flags (one filter, no sizes), LZMA2 with one property byte.
      assert.equal(block.subarray(13, 16).toString("hex"), "002101");
      assert.ok(lzma2DictSize(block[16]!) <= blockSize, "declared dictionary ≤ block size");
      assert.equal(block.readUInt16LE(block.length - 4), 0x0100, "footer flags: CRC32");
      checkWithXzTool(block, blockSize);
      assert.ok(Buffer.from(await c.decompress(block, blockSize)).equals(data));
      await assert.rejects(c.decompress(block, blockSize - 1), RangeError);
      await assert.rejects(c.decompress(block.subarray(0, block.length - 1), blockSize));
    }
  });
}
