/**
 * `gvmconv ls -R IMG | head`: when the reader goes away, gvmconv stops quietly with status 0
 * (no EPIPE stack), so `set -o pipefail` scripts do not fail for a listing they cut short.
 * Runs the real executable in a real shell pipeline.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeFixture } from "./image-fixture.js";
import { writeSquashfs, type Entry } from "../../src/squashfs/index.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

function pipeline(command: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("bash", ["-o", "pipefail", "-c", command], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("a closed pipe on stdout ends ls -R and cat quietly, status 0", async () => {
  const f = await makeFixture();
  try {
    // Enough names that the listing outgrows the pipe's buffer while head has already gone.
    const attrs = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
    const entries: Entry[] = Array.from({ length: 20_000 }, (_, i) => ({
      type: "file" as const,
      path: `d${i % 20}/file-with-a-long-name-${i}`,
      attrs,
      size: 0,
      content: Buffer.alloc(0),
    }));
    const many = join(f.dir, "many.sqfs");
    await writeSquashfs(entries, many, { workers: 0 });

    const ls = pipeline(`"${process.execPath}" "${MAIN}" ls -R "${many}" | head -n 2`);
    assert.equal(ls.stderr, "");
    assert.equal(ls.status, 0);
    assert.equal(ls.stdout.split("\n").length, 3);

    const cat = pipeline(`"${process.execPath}" "${MAIN}" cat "${f.gvmi}" /bin/blob | head -c 10 | wc -c`);
    assert.equal(cat.stderr, "");
    assert.equal(cat.status, 0);
    assert.equal(cat.stdout.trim(), "10");
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});
