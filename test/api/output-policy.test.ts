/**
 * The one output policy (src/api/output-policy.ts) on files built here with our writer and
 * trailer: create / keep / rebuild / refuse, for a .gvmi (derived from the file: trailer,
 * superblock, compressor options) and a plain SquashFS (its recorded fingerprint).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkOwnOutput,
  decideOutput,
  recordOutput,
  type OutputExpectation,
} from "../../src/api/output-policy.js";
import { appendTrailer, buildContainerConfig, type ContainerConfig } from "../../src/gvmi/index.js";
import { encodeTrailer } from "../../src/gvmi/trailer.js";
import { writeSquashfs, type WriterOptions } from "../../src/squashfs/index.js";
import { isGvmconvError } from "../../src/errors.js";

const imageId = "sha256:" + "cd".repeat(32);
const configOf = (env: string[]): ContainerConfig =>
  buildContainerConfig({ imageId, config: { Env: env, Cmd: ["/bin/sh"], Volumes: { "/w": {} } } });

async function gvmi(path: string, config: ContainerConfig, writer: WriterOptions): Promise<void> {
  await writeSquashfs(
    [
      {
        type: "file",
        path: "a",
        attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 0 },
        size: 1,
        content: Buffer.from("a"),
      },
    ],
    path,
    { ...writer, workers: 0 },
  );
  await appendTrailer(path, config);
}

const notOurs = (e: unknown): boolean => isGvmconvError(e) && e.code === "E_OUTPUT_NOT_OURS";

test("a .gvmi: kept when trailer, compression, level, block size and time match; rebuilt otherwise; junk refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-policy-"));
  try {
    const path = join(dir, "a.gvmi");
    const writer: WriterOptions = { compression: "gzip", level: 6, blockSize: 131072, mkfsTime: 0 };
    const want = (config: ContainerConfig, w: WriterOptions = writer): OutputExpectation => ({
      format: "gvmi",
      containerConfig: config,
      userFromLayers: false,
      writer: w,
    });
    assert.deepEqual(await decideOutput(path, want(configOf([])), false), { action: "create" });
    await gvmi(path, configOf(["A=1"]), writer);
    assert.deepEqual(await decideOutput(path, want(configOf(["A=1"])), false), { action: "keep" });
    assert.deepEqual(await decideOutput(path, want(configOf(["A=1"])), true), {
      action: "replace",
      reason: "forced",
    });
    const changed = { action: "replace", reason: "changed" };
    assert.deepEqual(await decideOutput(path, want(configOf(["A=2"])), false), changed);
    for (const w of [{ level: 1 }, { blockSize: 65536 }, { mkfsTime: 7 }, { compression: "xz" as const }]) {
      assert.deepEqual(
        await decideOutput(path, want(configOf(["A=1"]), { ...writer, ...w }), false),
        changed,
        JSON.stringify(w),
      );
    }
    // gvmkit-build's trailer of the same image (bare hex id, its other keys): gvmconv's, rebuilt.
    await writeFile(
      path,
      Buffer.concat([Buffer.alloc(4096), encodeTrailer(Buffer.from(`{"Image":"${"cd".repeat(32)}"}`))]),
    );
    assert.deepEqual(await decideOutput(path, want(configOf(["A=1"])), false), changed);
    await writeFile(path, "notes");
    await assert.rejects(decideOutput(path, want(configOf([])), false), notOurs);
    await assert.rejects(checkOwnOutput(path, "gvmi", false), notOurs);
    await checkOwnOutput(path, "gvmi", true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a plain SquashFS: its record decides; a file changed since its record is not ours", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-policy-"));
  try {
    const path = join(dir, "a.sqfs");
    const want = (fingerprint: string | undefined): OutputExpectation => ({
      format: "squashfs",
      fingerprint,
      writer: {},
    });
    await writeSquashfs([], path, { workers: 0 });
    await assert.rejects(
      decideOutput(path, want("f1"), false),
      notOurs,
      "no record: mksquashfs's or anyone's",
    );
    await recordOutput(path, "f1");
    assert.deepEqual(await decideOutput(path, want("f1"), false), { action: "keep" });
    assert.deepEqual(await decideOutput(path, want("f2"), false), { action: "replace", reason: "changed" });
    assert.deepEqual(await decideOutput(path, want(undefined), false), {
      action: "replace",
      reason: "changed",
    });
    await utimes(path, new Date(1000), new Date(1000));
    await assert.rejects(decideOutput(path, want("f1"), false), notOurs, "touched since");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
