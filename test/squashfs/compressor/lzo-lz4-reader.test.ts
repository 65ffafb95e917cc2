/**
 * The reader side of lzo and lz4: inspect, ls, cat and verify on images mksquashfs wrote (the
 * independent encoder) and on gvmconv's own, through the library API and the CLI.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspectImage, listImage, readImageFile, verifyImage } from "../../../src/index.js";
import { writeSquashfs } from "../../../src/squashfs/index.js";
import { readDirectory } from "../../../src/layers/index.js";
import { runCli } from "../../support/cli-run.js";

const noMksquashfs =
  spawnSync("mksquashfs", ["-version"]).error === undefined
    ? false
    : "mksquashfs (squashfs-tools) not installed";

async function cat(image: string, path: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of readImageFile(image, path)) chunks.push(c);
  return Buffer.concat(chunks);
}

test(
  "inspect, ls, cat and verify read lzo and lz4 images (mksquashfs's and gvmconv's)",
  { skip: noMksquashfs },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-lzo-read-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "etc"), { recursive: true });
    const big = Buffer.from(
      Array.from({ length: 40_000 }, (_, i) => `line ${i} ${(i * 7919) % 10007}\n`).join(""),
    );
    const osRelease = 'PRETTY_NAME="lzo test"\n';
    writeFileSync(join(tree, "etc/os-release"), osRelease);
    writeFileSync(join(tree, "big.txt"), big); // several blocks and a fragment tail
    const bash = readFileSync("/usr/bin/bash");
    writeFileSync(join(tree, "bash"), bash);

    const images: { label: string; path: string; compression: string }[] = [];
    for (const [label, args, compression] of [
      ["mksquashfs lzo", ["-comp", "lzo"], "lzo"],
      ["mksquashfs lzo -Xalgorithm lzo1x_1", ["-comp", "lzo", "-Xalgorithm", "lzo1x_1"], "lzo"],
      ["mksquashfs lz4 -Xhc", ["-comp", "lz4", "-Xhc"], "lz4"],
      ["mksquashfs lz4", ["-comp", "lz4"], "lz4"],
    ] as const) {
      const path = join(dir, `${images.length}.img`);
      execFileSync("mksquashfs", [tree, path, "-noappend", "-quiet", "-no-progress", ...args]);
      images.push({ label, path, compression });
    }
    for (const [compression, level] of [
      ["lzo", 8],
      ["lzo", 2],
      ["lz4", 1],
      ["lz4", 0],
    ] as const) {
      const path = join(dir, `${images.length}.img`);
      await writeSquashfs(readDirectory(tree), path, { compression, level, workers: 2 });
      images.push({ label: `gvmconv ${compression} ${level}`, path, compression });
    }

    for (const img of images) {
      const info = await inspectImage(img.path);
      assert.equal(info.squashfs.compression, img.compression, `${img.label}: inspect`);
      const names: string[] = [];
      for await (const d of listImage(img.path, "/", { recursive: true }))
        for (const e of d.entries) names.push(e.path);
      assert.deepEqual(names.sort(), ["bash", "big.txt", "etc", "etc/os-release"], `${img.label}: ls`);
      assert.ok((await cat(img.path, "/big.txt")).equals(big), `${img.label}: cat big.txt`);
      assert.ok((await cat(img.path, "/bash")).equals(bash), `${img.label}: cat bash`);
      const v = await verifyImage(img.path);
      assert.equal(v.files, 3, `${img.label}: verify`);
      assert.equal(v.fileBytes, big.length + bash.length + osRelease.length);

      const cli = await runCli(["cat", img.path, "/etc/os-release"]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout, osRelease);
      const inspected = await runCli(["inspect", img.path]);
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.match(inspected.stdout, new RegExp(`compression: ${img.compression}\\b`));
    }
  },
);

test("a damaged lz4 data block is one E_SQUASHFS_DECOMPRESS error from verify", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-lzo-read-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, "tree");
  mkdirSync(tree);
  writeFileSync(join(tree, "a.txt"), Buffer.from("abcdefgh".repeat(50_000)));
  for (const compression of ["lzo", "lz4"] as const) {
    const path = join(dir, `${compression}.img`);
    await writeSquashfs(readDirectory(tree), path, { compression, workers: 0 });
    const bytes = readFileSync(path);
    // First data block: right after the superblock (96) and lz4's options block (10 bytes).
    const at = compression === "lz4" ? 106 : 96;
    bytes.fill(0xff, at, at + 12);
    writeFileSync(path, bytes);
    await assert.rejects(verifyImage(path), (e: unknown) => {
      assert.equal((e as { code?: string }).code, "E_SQUASHFS_DECOMPRESS", String(e));
      return true;
    });
  }
});

test("gvmconv SOURCE --compression-method lzo|lz4 (gvmkit-build's flags) writes a .gvmi that verifies", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-lzo-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sample = join(import.meta.dirname, "../../../../samples/hello-oci");
  for (const comp of ["lzo", "lz4"]) {
    const out = join(dir, `${comp}.gvmi`);
    const r = await runCli([
      `oci:${sample}:latest`,
      "-o",
      out,
      "--compression-method",
      comp,
      "--hide-progress",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const link = / -- image link \(for use in SDK\): ([0-9a-f]{56})\n/.exec(r.stdout);
    assert.ok(link, r.stdout);
    const info = await inspectImage(out);
    assert.equal(info.sha3, link[1], "the image link is the file's SHA3-224");
    assert.equal(info.squashfs.compression, comp);
    assert.equal(info.format, "gvmi");
    const v = await runCli(["verify", out]);
    assert.equal(v.code, 0, v.stderr);
  }
  const bad = await runCli([
    `oci:${sample}:latest`,
    "-o",
    join(dir, "x.gvmi"),
    "--compression-method",
    "lzo",
    "--compression-level",
    "0",
  ]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /^gvmconv: error \[E_SQUASHFS_COMPRESSION_LEVEL\]: lzo compression level 0 [^\n]+\n$/,
  );
  assert.ok(!existsSync(join(dir, "x.gvmi")), "nothing written");
});
