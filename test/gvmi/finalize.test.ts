import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildContainerConfig } from "../../src/gvmi/container-config.js";
import { appendTrailer } from "../../src/gvmi/finalize.js";
import { readGvmi } from "../../src/gvmi/read.js";

const imageId = "sha256:" + "cd".repeat(32);
const config = buildContainerConfig({
  imageId,
  config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"], Volumes: { "/golem/work": {} } },
});

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-finalize-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A tiny SquashFS made by the real mksquashfs (squashfs-tools). */
async function makeSquashfs(dir: string, name = "image.squashfs"): Promise<string> {
  const root = join(dir, "root");
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(root, "etc", "hello.txt"), "hello from a gvmi\n");
  const out = join(dir, name);
  execFileSync("mksquashfs", [
    root,
    out,
    "-noappend",
    "-quiet",
    "-all-root",
    "-comp",
    "gzip",
    "-no-progress",
  ]);
  return out;
}

test("appendTrailer: mksquashfs image → .gvmi that parses back, hashes like sha3sum, still unsquashes", async () => {
  await withTempDir(async (dir) => {
    const path = await makeSquashfs(dir);
    const before = (await stat(path)).size;
    const result = await appendTrailer(path, config);
    const after = await readFile(path);
    assert.equal(result.size, after.length);
    assert.equal(result.squashfsSize, Math.ceil(before / 4096) * 4096);
    assert.equal(result.sha3, execFileSync("sha3sum", ["-a", "224", path]).toString().split(/\s+/)[0]);

    const info = await readGvmi(path);
    assert.deepEqual(info.config, JSON.parse(JSON.stringify(config)));
    assert.equal(info.squashfsSize, result.squashfsSize);
    assert.ok(info.squashfsBytesUsed !== undefined && info.squashfsBytesUsed <= info.squashfsSize);
    assert.deepEqual(info.issues, []);

    const listing = execFileSync("unsquashfs", ["-l", path]).toString();
    assert.match(listing, /etc\/hello\.txt/);
  });
});
