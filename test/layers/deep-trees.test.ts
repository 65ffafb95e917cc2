/**
 * Trees thousands of levels deep, paths far beyond PATH_MAX: a tar member 20,000 levels down
 * (PAX path of 40 KB, its parents implied), a directory 5,000 levels deep on disk and GNU tar's
 * tar of it (GNU long names, every level an entry). The merge, the writer, the directory walk and
 * the reader (`ls -R`, `verify`, `cat` lookups) go through them without recursion; unsquashfs,
 * which walks deep trees too, is the oracle of what the image holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { listImage, readImageFile, verifyImage } from "../../src/api/image-file.js";
import { buildSquashfs as build } from "../../src/api/squashfs.js";
import { mergeLayers, readTar } from "../../src/layers/index.js";
import { writeSquashfs, type Entry } from "../../src/squashfs/index.js";
import { CollectingReporter } from "../../src/reporter.js";
import { packTar } from "../support/tar.js";
import { runCli } from "../support/cli-run.js";

const TIMEOUT = { timeout: 240_000 };
const deep = (levels: number): string => "d/".repeat(levels).slice(0, -1);

function withDir(run: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-deep-"));
    try {
      await run(dir);
    } finally {
      // rm walks relative to open directories; a recursive rmSync would hit PATH_MAX.
      execFileSync("rm", ["-rf", dir]);
    }
  };
}

/** The last line of `unsquashfs -l`: the deepest path, in listing order. */
function lastListed(image: string): string {
  const out = execFileSync("unsquashfs", ["-lc", "-d", "", image], { maxBuffer: 1 << 30 }).toString();
  const lines = out.split("\n").filter(Boolean);
  return lines[lines.length - 1]!;
}

async function text(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts).toString();
}

test(
  "a tar member 20,000 levels deep (a 40 KB PAX path) and a hard link beside it: written, verified, read",
  TIMEOUT,
  withDir(async (dir) => {
    const bottom = deep(20_000);
    const tar = join(dir, "deep.tar");
    writeFileSync(
      tar,
      await packTar([
        { header: { name: `${bottom}/file`, mode: 0o644 }, body: "deep\n" },
        { header: { name: `${bottom}/link`, type: "link", linkname: `${bottom}/file` } },
      ]),
    );
    const image = join(dir, "deep.sqfs");
    await build(tar, image, { writer: { workers: 0 } });
    assert.equal(lastListed(image), `/${bottom}/link`);

    const verified = await verifyImage(image);
    assert.equal(verified.directories, 20_001);
    assert.equal(verified.files, 1);
    assert.equal(await text(readImageFile(image, `/${bottom}/link`)), "deep\n");
    const listings = [];
    for await (const l of listImage(image, bottom, { stat: true })) listings.push(l);
    assert.deepEqual(
      listings[0]!.entries.map((e) => [e.name, e.stat?.nlink]),
      [
        ["file", 2],
        ["link", 2],
      ],
    );
    // A missing name deep down is the usual coded error, its path shortened.
    await assert.rejects(text(readImageFile(image, `${bottom}/nope`)), (err: Error & { code?: string }) => {
      assert.equal(err.code, "E_SQUASHFS_NOT_FOUND");
      assert.ok(err.message.length < 1000, err.message.slice(0, 200));
      return true;
    });
  }),
);

test(
  "layers 20,000 levels deep merge: a deep whiteout removes, an unmatched one is reported with its path",
  TIMEOUT,
  withDir(async (dir) => {
    const bottom = deep(20_000);
    const lower = await packTar([
      { header: { name: `${bottom}/kept` }, body: "kept\n" },
      { header: { name: `${bottom}/gone` }, body: "gone\n" },
    ]);
    const upper = await packTar([
      { header: { name: `${bottom}/.wh.gone` } },
      { header: { name: `${bottom}/.wh.missing` } },
    ]);
    const reporter = new CollectingReporter();
    const layers = [upper, lower].map((t) => () => readTar(Readable.from([t]), { reporter }));
    // The merge alone first (its warning names the deep path), then the writer.
    const merged: Entry[] = [];
    for await (const entry of mergeLayers(layers, { reporter })) {
      merged.push(
        entry.type === "file"
          ? { ...entry, content: Buffer.from(await text(entry.content as AsyncIterable<Uint8Array>)) }
          : entry,
      );
    }
    assert.deepEqual(
      reporter.warnings.map((w) => [w.code, w.path]),
      [["W_LAYER_WHITEOUT_MISSING", `${bottom}/missing`]],
    );
    const image = join(dir, "merged.sqfs");
    await writeSquashfs(merged, image, { workers: 0 });
    assert.deepEqual(
      reporter.warnings.map((w) => [w.code, w.path]),
      [["W_LAYER_WHITEOUT_MISSING", `${bottom}/missing`]],
    );
    assert.equal(lastListed(image), `/${bottom}/kept`);
  }),
);

/** `root`/d/d/…/d (levels deep) holding `file`: made relative to the working directory, past PATH_MAX. */
function makeDeepDirectory(root: string, levels: number): void {
  const cwd = process.cwd();
  try {
    mkdirSync(root);
    process.chdir(root);
    for (let i = 0; i < levels; i++) {
      mkdirSync("d");
      process.chdir("d");
    }
    writeFileSync("file", "deep\n");
  } finally {
    process.chdir(cwd);
  }
}

test(
  "a directory 5,000 levels deep (paths of 10 KB) and GNU tar's tar of it (GNU long names) give one image",
  TIMEOUT,
  withDir(async (dir) => {
    const src = join(dir, "src");
    makeDeepDirectory(src, 5_000);
    const fromDir = join(dir, "dir.sqfs");
    await build(src, fromDir, { writer: { workers: 0 }, mkfsTime: 0 });
    const tar = join(dir, "gnu.tar");
    execFileSync("tar", ["--format=gnu", "-C", src, "-cf", tar, "."]);
    const fromTar = join(dir, "tar.sqfs");
    await build("-", fromTar, { writer: { workers: 0 }, mkfsTime: 0, stdin: createReadStream(tar) });
    assert.equal(lastListed(fromDir), `/${deep(5_000)}/file`);
    assert.equal(lastListed(fromTar), `/${deep(5_000)}/file`);
    // Same modes, owners and times from both sources: the same tables.
    const a = execFileSync("unsquashfs", ["-lln", "-d", "", fromDir], { maxBuffer: 1 << 30 }).toString();
    const b = execFileSync("unsquashfs", ["-lln", "-d", "", fromTar], { maxBuffer: 1 << 30 }).toString();
    assert.equal(a, b);

    // ls -R prints every level; the last directory heading is the deepest.
    const ls = await runCli(["ls", "-R", fromDir]);
    assert.equal(ls.code, 0, ls.stderr.slice(0, 500));
    const headings = ls.stdout.split("\n").filter((l) => l.endsWith(":"));
    assert.equal(headings.length, 5_001);
    assert.equal(headings[headings.length - 1], `/${deep(5_000)}:`);
    const verify = await runCli(["verify", fromTar]);
    assert.equal(verify.code, 0, verify.stderr.slice(0, 500));
    const cat = await runCli(["cat", fromTar, `${deep(5_000)}/file`]);
    assert.equal(cat.stdout, "deep\n");
  }),
);
