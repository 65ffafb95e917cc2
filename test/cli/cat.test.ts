import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { BINARY, makeFixture, run } from "./image-fixture.js";

test("cat: binary content comes out byte for byte, from a .gvmi and a plain image", async () => {
  const f = await makeFixture();
  try {
    for (const image of [f.gvmi, f.squashfs]) {
      const r = await run(["cat", image, "/bin/blob"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.equals(BINARY));
      assert.equal((await run(["cat", image, "etc/hostname"])).stdout.toString(), "golem\n");
    }
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("cat: a directory, a symlink or a missing path is one clear error line", async () => {
  const f = await makeFixture();
  try {
    for (const [path, code] of [
      ["/etc", "E_SQUASHFS_IS_A_DIRECTORY"],
      ["/", "E_SQUASHFS_IS_A_DIRECTORY"],
      ["bin/sh", "E_SQUASHFS_NOT_A_FILE"],
      ["dev/null", "E_SQUASHFS_NOT_A_FILE"],
      ["etc/missing", "E_SQUASHFS_NOT_FOUND"],
    ] as const) {
      const r = await run(["cat", f.gvmi, path]);
      assert.equal(r.code, 1, path);
      assert.equal(r.stdout.length, 0);
      assert.match(r.stderr, new RegExp(`^gvmconv: error \\[${code}\\]: [^\\n]+\\n$`), path);
    }
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});
