import { test } from "node:test";
import assert from "node:assert/strict";
import { missingMountPoints } from "../../src/gvmi/mount-points.js";

test("a scratch image gets all five mount points with rootfs modes", () => {
  const { entries, added } = missingMountPoints(["app"], { mtime: 1700000000 });
  assert.deepEqual(added, ["/dev", "/etc", "/proc", "/sys", "/tmp"]);
  const modes = Object.fromEntries(entries.map((e) => [e.path, e.type === "directory" ? e.attrs.mode : -1]));
  assert.deepEqual(modes, { dev: 0o755, etc: 0o755, proc: 0o755, sys: 0o755, tmp: 0o1777 });
  for (const e of entries) {
    assert.equal(e.type, "directory");
    if (e.type === "directory")
      assert.deepEqual([e.attrs.uid, e.attrs.gid, e.attrs.mtime], [0, 0, 1700000000]);
  }
});

test("present names (with or without slashes) are left alone", () => {
  const { added } = missingMountPoints(["/etc", "proc/", "sys", "dev", "tmp", "usr"]);
  assert.deepEqual(added, []);
  assert.deepEqual(missingMountPoints(new Set(["etc", "dev", "tmp"])).added, ["/proc", "/sys"]);
});
