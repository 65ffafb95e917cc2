/**
 * The writing bar of convert(): it moves inside a large file (not once per file, which showed
 * `writing 0 B` for the whole of a 500 MB file), its total is there from the start, and it ends
 * at the exact uncompressed size of the layers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { convert, type ProgressTask, type Reporter, type TaskOptions } from "../../src/index.js";
import { assembleImage, hermeticEnv, tmp, writeLayout } from "../oci/helpers.js";
import { packTar } from "../support/tar.js";

interface Recorded {
  label: string;
  kind: string | undefined;
  totals: (number | undefined)[];
  advances: number[];
  done: boolean;
}

class RecordingReporter implements Reporter {
  readonly tasks: Recorded[] = [];
  warn(): void {}
  info(): void {}
  task(label: string, total?: number, options?: TaskOptions): ProgressTask {
    const r: Recorded = { label, kind: options?.kind, totals: [total], advances: [], done: false };
    this.tasks.push(r);
    return {
      advance: (n) => void r.advances.push(n),
      setTotal: (t) => void r.totals.push(t),
      done: () => void (r.done = true),
    };
  }
}

/** Deterministic bytes that gzip cannot shrink much. */
function noise(n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash("sha256").update("write-progress").digest();
  for (let off = 0; off < n; off += block.length) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

test("writing advances within one large file, from a known total to the exact size", async (t) => {
  const work = await tmp("gvmconv-write-progress-");
  t.after(() => rm(work, { recursive: true, force: true }));
  const mtime = new Date(1_700_000_000_000);
  const tar = await packTar([
    { header: { name: "big.bin", type: "file", mode: 0o644, mtime }, body: noise(8 * 1024 * 1024) },
  ]);
  const image = assembleImage([{ tar, compression: "gzip" }], {
    architecture: "amd64",
    os: "linux",
    config: { Volumes: { "/data": {} } },
  });
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "v1", image }]);
  const reporter = new RecordingReporter();
  await convert(`oci:${join(work, "layout")}:v1`, {
    output: join(work, "out.gvmi"),
    env: hermeticEnv(work),
    reporter,
  });
  const writing = reporter.tasks.find((r) => r.kind === "write");
  assert.ok(writing, reporter.tasks.map((r) => r.label).join(", "));
  assert.ok((writing.totals[0] ?? 0) > 0, "a total from the start");
  // One file: the old bar advanced once, by the file's size, after the file was written.
  assert.ok(writing.advances.length >= 16, `advances: ${writing.advances.length}`);
  const sum = writing.advances.reduce((a, b) => a + b, 0);
  assert.equal(sum, tar.length, "every uncompressed byte of the layer, once");
  assert.equal(writing.totals[writing.totals.length - 1], tar.length, "the total ends exact");
  assert.ok(writing.done);
  const kinds = reporter.tasks.map((r) => `${r.kind}:${r.label}`);
  assert.ok(kinds.includes(`resolve:resolving oci:${join(work, "layout")}:v1`), kinds.join(", "));
  assert.ok(kinds.includes("hash:hashing (SHA3-224)"), kinds.join(", "));
  assert.ok(
    reporter.tasks.every((r) => r.done),
    "every task is done",
  );
});
