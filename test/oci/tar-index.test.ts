import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TarIndex } from "../../src/oci/tar-index.js";
import { LocalSourceError } from "../../src/oci/errors.js";
import { packTar } from "../support/tar.js";

async function withTar<T>(tar: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-tar-index-"));
  try {
    const path = join(dir, "archive.tar");
    await writeFile(path, tar);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const read = (tar: Buffer, name: string, index: TarIndex): string | undefined => {
  const e = index.get(name);
  return e && tar.subarray(e.offset, e.offset + e.size).toString();
};

test("links resolve: hard links by archive path, symlinks from their directory, clamped at the root", async () => {
  const tar = await packTar([
    { header: { name: "blobs/sha256/abc", type: "file" }, body: "layer" },
    { header: { name: "old/layer.tar", type: "symlink", linkname: "../../../blobs/sha256/abc" } },
    { header: { name: "old/abs.tar", type: "symlink", linkname: "/blobs/sha256/abc" } },
    { header: { name: "hard.tar", type: "link", linkname: "./blobs/sha256/abc" } },
  ]);
  await withTar(tar, async (path) => {
    const index = await TarIndex.build(path);
    for (const name of ["blobs/sha256/abc", "old/layer.tar", "old/abs.tar", "hard.tar", "/./hard.tar"]) {
      assert.equal(read(tar, name, index), "layer", name);
    }
  });
});

test("long names from pax and GNU headers", async () => {
  const long = "blobs/sha256/" + "f".repeat(200);
  const tar = await packTar([{ header: { name: long, type: "file" }, body: "pax" }]); // tar-stream writes pax
  await withTar(tar, async (path) => assert.equal(read(tar, long, await TarIndex.build(path)), "pax"));
});

test("a bad size field is refused as not a tar, naming where", async () => {
  const tar = await packTar([{ header: { name: "a", type: "file" }, body: "x" }]);
  const octal = Buffer.from(tar);
  octal.write("0000000001z\0", 124, "latin1");
  const negative = Buffer.from(tar);
  negative.fill(0xff, 124, 136); // base-256 -1
  const huge = Buffer.from(tar);
  huge.fill(0, 124, 136);
  huge[124] = 0x80;
  huge[129] = 0x20; // 2^53
  for (const [bad, message] of [
    [octal, /bad number field "0000000001z"/],
    [negative, /negative size/],
    [huge, /beyond 2\^53-1/],
  ] as const) {
    await withTar(bad, async (path) => {
      await assert.rejects(
        TarIndex.build(path),
        (err: unknown) =>
          err instanceof LocalSourceError && message.test(err.message) && /at byte 0/.test(err.message),
      );
    });
  }
});
