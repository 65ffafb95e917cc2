/**
 * Every tar consumer reads a member name the same way (src/tar's `normalizeTarPath`): the archive
 * index of docker-save/OCI archives and the layer reader must agree on what `../x` or `/x` names,
 * or a blob found by one would be a different file to the other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { TarIndex } from "../../src/oci/tar-index.js";
import { readTarRecords } from "../../src/layers/tar-reader.js";
import { normalizeTarPath } from "../../src/tar/index.js";
import { packTar } from "../support/tar.js";

const NAMES = ["../x", "/y", "a/../../z", "./w/./v", "//u", "../../t/s"];

test("the archive index and the layer reader give ../ and absolute names the same path", async () => {
  const tar = await packTar(NAMES.map((name, i) => ({ header: { name, type: "file" }, body: `file ${i}` })));
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-tar-paths-"));
  try {
    const file = join(dir, "archive.tar");
    await writeFile(file, tar);
    const index = await TarIndex.build(file);

    const readerPaths: string[] = [];
    for await (const record of readTarRecords(Readable.from([tar]))) readerPaths.push(record.entry.path);

    const expected = ["x", "y", "z", "w/v", "u", "t/s"];
    assert.deepEqual(readerPaths, expected);
    assert.deepEqual(index.names(), expected);
    assert.deepEqual(NAMES.map(normalizeTarPath), expected);
    for (const [i, name] of NAMES.entries()) {
      const entry = index.get(name);
      assert.ok(entry, name);
      assert.equal(tar.subarray(entry.offset, entry.offset + entry.size).toString(), `file ${i}`);
      assert.deepEqual(index.get(expected[i]!), entry, "looked up by its name or its path alike");
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
