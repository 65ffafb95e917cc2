/**
 * lzo and lz4 against mksquashfs, the oracle: options block bytes, data blocks byte for byte,
 * sqfsdiff on a mixed tree, unsquashfs listing and extraction, sizes, worker counts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createCompressor,
  InvalidCompressionLevelError,
  Lz4Compressor,
  LzoCompressor,
} from "../../../src/squashfs/compressor/index.js";
import { encodeLzoOptions } from "../../../src/squashfs/compressor/lzo.js";
import { encodeLz4Options } from "../../../src/squashfs/compressor/lz4.js";
import { writeSquashfs, type WriterOptions } from "../../../src/squashfs/index.js";
import { readDirectory } from "../../../src/layers/index.js";
import { prng } from "../../support/prng.js";
import { walk } from "../../support/tree-walk.js";

const BLOCK = 131072;
const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString("hex"));
const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
const u64 = (img: Buffer, at: number): number => Number(img.readBigUInt64LE(at));
/** Superblock flag COMPRESSOR_OPTIONS (format.adoc): an options block follows the superblock. */
const FLAG_COMPRESSOR_OPTIONS = 0x0400;
const haveTools = ["mksquashfs", "unsquashfs", "sqfsdiff"].every(
  (t) => spawnSync(t, ["-version"]).error === undefined,
);
const noTools = haveTools ? false : "squashfs-tools / squashfs-tools-ng not installed";

/** The mksquashfs arguments of each case, and the writer options that should give the same image. */
const CASES: { label: string; mksquashfs: string[]; writer: WriterOptions; options: string | null }[] = [
  {
    label: "lzo (default level 8)",
    mksquashfs: ["-comp", "lzo"],
    writer: { compression: "lzo" },
    options: null,
  },
  {
    label: "lzo level 3",
    mksquashfs: ["-comp", "lzo", "-Xcompression-level", "3"],
    writer: { compression: "lzo", level: 3 },
    options: "0400000003000000",
  },
  {
    label: "lz4 -Xhc (default)",
    mksquashfs: ["-comp", "lz4", "-Xhc"],
    writer: { compression: "lz4" },
    options: "0100000001000000",
  },
  {
    label: "lz4 plain (level 0)",
    mksquashfs: ["-comp", "lz4"],
    writer: { compression: "lz4", level: 0 },
    options: "0100000000000000",
  },
];

function mksquashfs(tree: string, out: string, args: string[]): Buffer {
  execFileSync("mksquashfs", [
    tree,
    out,
    "-noappend",
    "-quiet",
    "-no-progress",
    "-b",
    String(BLOCK),
    ...args,
  ]);
  return readFileSync(out);
}

/** The compressor options metadata block (2-byte header, uncompressed bit set) or null. */
function optionsBlock(img: Buffer): string | null {
  if ((img.readUInt16LE(24) & FLAG_COMPRESSOR_OPTIONS) === 0) return null;
  const header = img.readUInt16LE(96);
  assert.equal(header & 0x8000, 0x8000, "options block stored uncompressed");
  return img.subarray(98, 98 + (header & 0x7fff)).toString("hex");
}

/** A small mixed tree: text, binaries, a multi-block file, tails for fragments, random data, a hard link. */
function mixedTree(root: string): void {
  const rand = prng(9);
  mkdirSync(join(root, "etc/conf.d"), { recursive: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "var/empty"), { recursive: true });
  for (let i = 0; i < 40; i++) {
    const lines: string[] = [];
    const n = Math.floor(rand() * 400);
    for (let j = 0; j < n; j++) lines.push(`key${j}=${Math.floor(rand() * 1e6)} # setting ${i}.${j}`);
    writeFileSync(join(root, "etc/conf.d", `f${i}.conf`), lines.join("\n"));
  }
  for (const bin of ["ls", "cp", "tar"]) copyFileSync(`/usr/bin/${bin}`, join(root, "usr/bin", bin));
  writeFileSync(join(root, "usr/big.txt"), Buffer.from("0123456789abcdef\n".repeat(40000)));
  writeFileSync(
    join(root, "usr/random.bin"),
    Buffer.from(Array.from({ length: 300_000 }, () => (rand() * 256) | 0)),
  );
  // Zeros shorter than a block: a whole zero block is a sparse block, which gvmconv stores with an
  // extended inode where mksquashfs does not (sqfsdiff reports that, whatever the compressor).
  writeFileSync(join(root, "usr/zeros"), Buffer.alloc(5000));
  writeFileSync(join(root, "empty"), "");
  symlinkSync("etc/conf.d/f1.conf", join(root, "link"));
  linkSync(join(root, "usr/bin/ls"), join(root, "usr/bin/ls2"));
  for (const p of execFileSync("find", [root], { encoding: "utf8" }).trim().split("\n").reverse())
    if (p !== join(root, "link")) utimesSync(p, 1_700_000_000, 1_700_000_000);
}

test("lzo and lz4 options blocks, as hex literals", () => {
  assert.equal(hex(encodeLzoOptions(7)), "0400000007000000");
  assert.equal(
    hex(new LzoCompressor(8).options),
    null,
    "lzo1x_999 level 8 is mksquashfs's default: no block",
  );
  assert.equal(hex(new LzoCompressor(1).options), "0400000001000000");
  assert.equal(hex(encodeLz4Options(true)), "0100000001000000");
  assert.equal(hex(new Lz4Compressor(1).options), "0100000001000000");
  assert.equal(hex(new Lz4Compressor(0).options), "0100000000000000", "lz4 always has its options block");
  assert.equal(new LzoCompressor(8).id, 3);
  assert.equal(new Lz4Compressor(1).id, 5);
});

test("lzo and lz4 level ranges: lzo 1-9, lz4 0 (plain) or 1 (HC)", () => {
  for (const [name, bad] of [
    ["lzo", 0],
    ["lzo", 10],
    ["lz4", 2],
    ["lz4", -1],
    ["lz4", 0.5],
  ] as const) {
    assert.throws(
      () => createCompressor({ name, level: bad, blockSize: BLOCK }),
      (e: unknown) => e instanceof InvalidCompressionLevelError && e.code === "E_SQUASHFS_COMPRESSION_LEVEL",
      `${name} ${bad}`,
    );
  }
  assert.equal(createCompressor({ name: "lzo", level: 9, blockSize: BLOCK }).level, 9);
});

for (const [name, level] of [
  ["lzo", 8],
  ["lzo", 1],
  ["lz4", 1],
  ["lz4", 0],
] as const) {
  test(`${name} level ${level}: round trip, bounded and checked decompression`, async () => {
    const c = createCompressor({ name, level, blockSize: BLOCK });
    const text = Buffer.from(
      "the quick brown fox jumps over the lazy dog 0123456789\n".repeat(3000),
    ).subarray(0, BLOCK);
    for (const data of [text, randomBytes(5000), Buffer.alloc(BLOCK), text.subarray(0, 1)]) {
      const packed = c.compressSync(data);
      assert.ok(Buffer.from(await c.compress(data)).equals(Buffer.from(packed)), "sync and async agree");
      assert.ok(Buffer.from(await c.decompress(packed, BLOCK)).equals(data));
    }
    const packed = c.compressSync(text);
    assert.ok(packed.length < text.length / 4, "text compresses");
    await assert.rejects(c.decompress(packed, 1000), "output bounded by maxSize");
    await assert.rejects(
      c.decompress(packed.subarray(0, packed.length - 5), BLOCK),
      "truncated block refused",
    );
  });
}

test("data blocks byte for byte as mksquashfs writes them", { skip: noTools }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-lzo-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // One file of whole blocks: no fragment, so everything between the options block and the inode
  // table is that file's data blocks, in order, on both sides. Binary code and text, 10 blocks.
  const tree = join(dir, "one");
  mkdirSync(tree);
  const bash = readFileSync("/usr/bin/bash");
  const text = Buffer.from(
    execFileSync("find", ["/usr/share/doc", "-maxdepth", "2"], { encoding: "utf8" }).repeat(8),
  );
  writeFileSync(join(tree, "f"), Buffer.concat([bash.subarray(0, 6 * BLOCK), text.subarray(0, 4 * BLOCK)]));
  assert.ok(text.length >= 4 * BLOCK && bash.length >= 6 * BLOCK);
  for (const c of CASES) {
    const theirs = mksquashfs(tree, join(dir, "ms.img"), c.mksquashfs);
    const ours = join(dir, "gv.img");
    await writeSquashfs(readDirectory(tree), ours, { ...c.writer, workers: 2, skipIncompressible: false });
    const mine = readFileSync(ours);
    assert.equal(mine.readUInt16LE(20), theirs.readUInt16LE(20), `${c.label}: compression id`);
    assert.equal(optionsBlock(theirs), c.options, `${c.label}: mksquashfs's options block`);
    assert.equal(optionsBlock(mine), c.options, `${c.label}: our options block`);
    const start = c.options === null ? 96 : 106;
    const data = (img: Buffer): Buffer => img.subarray(start, u64(img, 64));
    assert.equal(data(mine).length, data(theirs).length, `${c.label}: data length`);
    assert.ok(data(mine).equals(data(theirs)), `${c.label}: data blocks identical`);
  }
});

test(
  "mixed tree: sqfsdiff finds no difference, unsquashfs extracts it, sizes within 1.005×",
  { skip: noTools },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-lzo-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const tree = join(dir, "tree");
    mkdirSync(tree);
    mixedTree(tree);
    const expected = walk(tree);
    for (const c of CASES) {
      const theirs = join(dir, "ms.img");
      const size = u64(mksquashfs(tree, theirs, c.mksquashfs), 40);
      const ours = join(dir, "gv.img");
      await writeSquashfs(readDirectory(tree), ours, { ...c.writer, workers: 2 });
      const diff = spawnSync("sqfsdiff", ["-a", theirs, "-b", ours], { encoding: "utf8" });
      assert.equal(diff.status, 0, `${c.label}: sqfsdiff\n${diff.stdout}${diff.stderr}`);
      const listing = execFileSync("unsquashfs", ["-l", "-d", "", ours], { encoding: "utf8" });
      assert.match(listing, /^\/etc\/conf\.d\/f39\.conf$/m, `${c.label}: unsquashfs -l`);
      const out = join(dir, "x");
      rmSync(out, { recursive: true, force: true });
      execFileSync("unsquashfs", ["-q", "-n", "-d", out, ours]);
      const got = walk(out);
      assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), `${c.label}: same paths`);
      for (const [p, w] of expected) assert.equal(got.get(p)?.data, w.data, `${c.label}: ${p}`);
      const mine = u64(readFileSync(ours), 40);
      const ratio = mine / size;
      t.diagnostic(`${c.label}: gvmconv ${mine} / mksquashfs ${size} bytes = ${ratio.toFixed(5)}×`);
      assert.ok(ratio <= 1.005, `${c.label}: ${ratio} > 1.005`);
    }
  },
);

test("lzo and lz4 images are byte-identical with 0, 1 and 2 workers", { skip: noTools }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-lzo-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, "tree");
  mkdirSync(tree);
  mixedTree(tree);
  for (const writer of [
    { compression: "lzo" },
    { compression: "lz4" },
    { compression: "lz4", level: 0 },
  ] as const) {
    const hashes = new Set<string>();
    for (const workers of [0, 1, 2]) {
      const out = join(dir, `w${workers}.img`);
      await writeSquashfs(readDirectory(tree), out, { ...writer, workers });
      hashes.add(sha(out));
    }
    assert.equal(hashes.size, 1, `${JSON.stringify(writer)}: one image whatever the worker count`);
  }
});
