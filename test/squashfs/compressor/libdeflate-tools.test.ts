/**
 * libdeflate gzip images against the squashfs tools: unsquashfs and sqfsdiff read levels 1–12
 * (levels 9–12 store no options block, 1–8 a valid one), sizes against mksquashfs -comp gzip, the
 * same bytes whatever the worker count, and `inspect` on mksquashfs's own image.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDirectory } from "../../../src/layers/index.js";
import { writeSquashfs, type WriterOptions } from "../../../src/squashfs/index.js";
import { inspectImage } from "../../../src/api/image-file.js";
import { prng } from "../../support/prng.js";
import { walk } from "../../support/tree-walk.js";

const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
const u64 = (img: Buffer, at: number): number => Number(img.readBigUInt64LE(at));
const FLAG_COMPRESSOR_OPTIONS = 0x0400;
const haveTools = ["mksquashfs", "unsquashfs", "sqfsdiff"].every(
  (t) => spawnSync(t, ["-version"]).error === undefined,
);
const noTools = haveTools ? false : "squashfs-tools / squashfs-tools-ng not installed";

/** Text, binaries, a multi-block file, tails for fragments, random data. */
function mixedTree(root: string): void {
  const rand = prng(12);
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  for (let i = 0; i < 30; i++) {
    const lines: string[] = [];
    for (let j = 0; j < 300; j++) lines.push(`key${j}=${Math.floor(rand() * 1e6)} # setting ${i}.${j}`);
    writeFileSync(join(root, "etc", `f${i}.conf`), lines.join("\n"));
  }
  for (const bin of ["ls", "cp", "tar", "bash"]) copyFileSync(`/usr/bin/${bin}`, join(root, "usr/bin", bin));
  writeFileSync(
    join(root, "usr/random.bin"),
    Buffer.from(Array.from({ length: 200_000 }, () => (rand() * 256) | 0)),
  );
  for (const p of execFileSync("find", [root], { encoding: "utf8" }).trim().split("\n").reverse())
    utimesSync(p, 1_700_000_000, 1_700_000_000);
}

test(
  "libdeflate levels 1, 6, 9, 12: unsquashfs and sqfsdiff read them; options only for 1–8; no larger than mksquashfs",
  { skip: noTools },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-deflate-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const tree = join(dir, "tree");
    mkdirSync(tree);
    mixedTree(tree);
    const expected = walk(tree);
    const theirs = join(dir, "ms.img");
    execFileSync("mksquashfs", [tree, theirs, "-noappend", "-quiet", "-no-progress", "-comp", "gzip"]);
    const theirSize = u64(readFileSync(theirs), 40);
    for (const level of [1, 6, 9, 12]) {
      const ours = join(dir, `gv-${level}.img`);
      const written = await writeSquashfs(readDirectory(tree), ours, {
        compression: "gzip",
        gzipBackend: "libdeflate",
        level,
        workers: 2,
      });
      assert.match(written.compressor.backend, /^libdeflate/);
      const img = readFileSync(ours);
      const hasOptions = (img.readUInt16LE(24) & FLAG_COMPRESSOR_OPTIONS) !== 0;
      assert.equal(hasOptions, level < 9, `level ${level}: options block`);
      if (hasOptions) assert.equal(img.readUInt32LE(98), level, "recorded compression_level");
      // unsquashfs -stat parses the options block and refuses a level outside 1–9.
      const stat = execFileSync("unsquashfs", ["-s", ours], { encoding: "utf8" });
      assert.match(stat, /Compression gzip/);
      const diff = spawnSync("sqfsdiff", ["-a", theirs, "-b", ours], { encoding: "utf8" });
      assert.equal(diff.status, 0, `level ${level}: sqfsdiff\n${diff.stdout}${diff.stderr}`);
      const out = join(dir, "x");
      rmSync(out, { recursive: true, force: true });
      execFileSync("unsquashfs", ["-q", "-n", "-d", out, ours]);
      const got = walk(out);
      assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), `level ${level}: same paths`);
      for (const [p, w] of expected) assert.equal(got.get(p)?.data, w.data, `level ${level}: ${p}`);
      const ratio = u64(img, 40) / theirSize;
      t.diagnostic(
        `libdeflate ${level}: ${u64(img, 40)} bytes, ${ratio.toFixed(4)}× mksquashfs -comp gzip (9)`,
      );
      if (level >= 6)
        assert.ok(ratio <= 1, `libdeflate ${level} is no larger than mksquashfs gzip 9 (${ratio})`);
    }
    // mksquashfs's image: system zlib, which neither of our encoders reproduces.
    assert.equal((await inspectImage(theirs)).squashfs.encoder, null);
  },
);

test("libdeflate gzip images are byte-identical with 0, 1 and 2 workers", { skip: noTools }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-deflate-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, "tree");
  mkdirSync(tree);
  mixedTree(tree);
  for (const writer of [
    { compression: "gzip" },
    { compression: "gzip", level: 12 },
    { compression: "gzip", level: 1, skipIncompressible: false },
  ] as WriterOptions[]) {
    const hashes = new Set<string>();
    for (const workers of [0, 1, 2]) {
      const out = join(dir, `w${workers}.img`);
      await writeSquashfs(readDirectory(tree), out, { ...writer, gzipBackend: "libdeflate", workers });
      hashes.add(sha(out));
    }
    assert.equal(hashes.size, 1, `${JSON.stringify(writer)}: one image whatever the worker count`);
  }
});
