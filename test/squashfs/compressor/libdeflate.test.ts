/**
 * The libdeflate gzip backend (libdeflate-ffi.ts, gzip.ts): zlib-format blocks any inflater reads,
 * levels 1–12 and how they map onto the options block, backend choice and its errors, and the
 * encoder identification `inspect` uses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { deflateSync, inflateSync } from "node:zlib";
import {
  createCompressor,
  GzipCompressor,
  identifyGzipEncoder,
  InvalidCompressionLevelError,
} from "../../../src/squashfs/compressor/index.js";
import { systemLibdeflate } from "../../../src/squashfs/compressor/libdeflate-ffi.js";
import { createContext } from "../../../src/context.js";
import { UsageError } from "../../../src/errors.js";

const BLOCK = 131072;

/** Text-like bytes: compressible, but with enough variety that levels differ. */
function sample(size: number, seed = 1): Buffer {
  const words = ["squashfs", "golem", "inode", "block", "\n", "fragment", "provider", "0x7f", "ELF"];
  const parts: string[] = [];
  let n = 0;
  let s = seed;
  while (n < size) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const w = `${words[s % words.length]}${s % 97}`;
    parts.push(w, " ");
    n += w.length + 1;
  }
  return Buffer.from(parts.join("")).subarray(0, size);
}

const lib = systemLibdeflate();

test("libdeflate loads here (test-deps.txt installs libdeflate0)", () => {
  assert.notEqual(lib, null);
  const c = createCompressor({ name: "gzip", level: 6, blockSize: BLOCK });
  assert.ok(c instanceof GzipCompressor);
  assert.equal(c.gzipBackend, "libdeflate", "unset backend: libdeflate when it loads");
  assert.match(c.backend, /^libdeflate \(libdeflate\.so\.0, encoder [0-9a-f]{16}\)$/);
  const z = createCompressor({ name: "gzip", level: 6, blockSize: BLOCK, gzipBackend: "zlib" });
  assert.match(z.backend, /^zlib .* \(Node\)$/);
});

test("every level 1–12 writes a zlib stream that Node's zlib inflates back, sync and async alike", async () => {
  const data = sample(BLOCK);
  const sizes: number[] = [];
  for (let level = 1; level <= 12; level++) {
    const c = createCompressor({ name: "gzip", level, blockSize: BLOCK, gzipBackend: "libdeflate" });
    const out = c.compressSync(data);
    assert.ok(Buffer.from(await c.compress(data)).equals(out), `level ${level}: async = sync`);
    // RFC 1950 header: CM 8 (deflate), CINFO ≤ 7, header checksum.
    assert.equal(out[0]! & 0x0f, 8);
    assert.equal(((out[0]! << 8) | out[1]!) % 31, 0);
    assert.ok(inflateSync(out).equals(data), `level ${level} inflates with zlib`);
    assert.ok(
      Buffer.from(await c.decompress(out, BLOCK)).equals(data),
      `level ${level} inflates with libdeflate`,
    );
    sizes.push(out.length);
  }
  assert.ok(sizes[11]! < sizes[5]!, `level 12 (${sizes[11]}) beats level 6 (${sizes[5]})`);
});

test("incompressible input still gives a valid stream; the writer then stores the block raw", async () => {
  const c = createCompressor({ name: "gzip", level: 12, blockSize: BLOCK, gzipBackend: "libdeflate" });
  const data = randomBytes(5000);
  const out = c.compressSync(data);
  assert.ok(out.length >= data.length);
  assert.ok(Buffer.from(await c.decompress(out, BLOCK)).equals(data));
});

test("libdeflate decompression is bounded and rejects corrupt or trailing bytes", async () => {
  const c = createCompressor({ name: "gzip", level: 6, blockSize: BLOCK, gzipBackend: "libdeflate" });
  const out = c.compressSync(sample(BLOCK));
  await assert.rejects(c.decompress(out, 1000), /inflates past 1000/);
  const bad = Buffer.from(out);
  bad[bad.length - 1]! ^= 0xff; // Adler-32
  await assert.rejects(c.decompress(bad, BLOCK), /corrupt/);
  await assert.rejects(c.decompress(Buffer.concat([out, Buffer.from([0])]), BLOCK), /trailing/);
});

test("options block: levels 1–8 recorded as mksquashfs does, 9–12 none (readers refuse a level past 9)", () => {
  for (const backend of ["libdeflate", "zlib"] as const) {
    const six = createCompressor({ name: "gzip", level: 6, blockSize: BLOCK, gzipBackend: backend });
    assert.equal(Buffer.from(six.options!).toString("hex"), "060000000f000000");
    assert.equal(
      createCompressor({ name: "gzip", level: 9, blockSize: BLOCK, gzipBackend: backend }).options,
      null,
    );
  }
  for (const level of [10, 11, 12]) {
    const c = createCompressor({ name: "gzip", level, blockSize: BLOCK, gzipBackend: "libdeflate" });
    assert.equal(c.options, null, `level ${level}`);
    assert.equal(c.level, level);
  }
});

test("levels 10–12 are libdeflate's: zlib refuses them with a hint, 0 and 13 are refused by both", () => {
  assert.throws(
    () => createCompressor({ name: "gzip", level: 12, blockSize: BLOCK, gzipBackend: "zlib" }),
    (e: unknown) =>
      e instanceof InvalidCompressionLevelError &&
      e.message === "gzip compression level 12 is not an integer from 1 to 9" &&
      e.hint.includes("libdeflate"),
  );
  for (const level of [0, 13])
    assert.throws(
      () => createCompressor({ name: "gzip", level, blockSize: BLOCK }),
      InvalidCompressionLevelError,
    );
});

test("the two backends write different bytes at one level, and each is identified by re-encoding", () => {
  const data = sample(8192, 7);
  for (const level of [1, 6, 8]) {
    const d = createCompressor({
      name: "gzip",
      level,
      blockSize: BLOCK,
      gzipBackend: "libdeflate",
    }).compressSync(data);
    const z = createCompressor({ name: "gzip", level, blockSize: BLOCK, gzipBackend: "zlib" }).compressSync(
      data,
    );
    assert.ok(!Buffer.from(d).equals(z), `level ${level}: libdeflate and zlib differ`);
    assert.deepEqual(identifyGzipEncoder(data, d, level), { backend: "libdeflate", levels: [level] });
    assert.deepEqual(identifyGzipEncoder(data, z, level), { backend: "zlib", levels: [level] });
  }
  // No options block: 9–12 are tried.
  for (const level of [9, 10, 11, 12]) {
    const d = createCompressor({ name: "gzip", level, blockSize: BLOCK }).compressSync(data);
    const found = identifyGzipEncoder(data, d, null);
    assert.equal(found?.backend, "libdeflate");
    assert.ok(found.levels.includes(level), `level ${level} among ${found.levels.join()}`);
  }
  // Bytes neither makes at the recorded level (a level-1 stream in an image that says 6).
  const foreign = deflateSync(data, { level: 1 });
  assert.ok(inflateSync(foreign).equals(data));
  assert.equal(identifyGzipEncoder(data, foreign, 6), null);
});

test("GVMCONV_GZIP_BACKEND is resolved by the run context, and a bad value is a usage error", () => {
  assert.equal(createContext({ env: {}, dotenv: false }).gzipBackend, undefined);
  assert.equal(
    createContext({ env: { GVMCONV_GZIP_BACKEND: "auto" }, dotenv: false }).gzipBackend,
    undefined,
  );
  assert.equal(createContext({ env: { GVMCONV_GZIP_BACKEND: "zlib" }, dotenv: false }).gzipBackend, "zlib");
  assert.equal(
    createContext({ env: { GVMCONV_GZIP_BACKEND: "libdeflate" }, dotenv: false }).gzipBackend,
    "libdeflate",
  );
  assert.throws(() => createContext({ env: { GVMCONV_GZIP_BACKEND: "pigz" }, dotenv: false }), UsageError);
});

test("an output built with one gzip encoder is not kept for a run with the other (output policy)", async () => {
  const { byteOptions } = await import("../../../src/api/output-policy.js");
  const libdeflate = byteOptions({ compression: "gzip", gzipBackend: "libdeflate" });
  const zlib = byteOptions({ compression: "gzip", gzipBackend: "zlib" });
  assert.notDeepEqual(libdeflate, zlib);
  assert.deepEqual(byteOptions({ compression: "gzip" }), libdeflate, "unset: libdeflate here");
  assert.equal(byteOptions({ compression: "xz" })["gzipEncoder"], undefined);
});
