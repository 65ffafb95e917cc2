import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { makeFixture, run } from "./image-fixture.js";
import { modeString } from "../../src/cli/commands/ls.js";

test("ls: names of the root, then of a subdirectory", async () => {
  const f = await makeFixture();
  try {
    const root = await run(["ls", f.gvmi]);
    assert.equal(root.code, 0, root.stderr);
    assert.equal(root.stdout.toString(), "bin\ndata\ndev\netc\n");
    assert.equal((await run(["ls", f.gvmi, "/bin"])).stdout.toString(), "blob\nsh\n");
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("ls -l: mode, links, numeric ids, size or device numbers, mtime, symlink target", async () => {
  const f = await makeFixture();
  try {
    const bin = (await run(["ls", f.gvmi, "bin", "-l"])).stdout.toString().split("\n");
    assert.equal(bin[0], "-rwxr-xr-x 1 0 0 200000 2023-11-14 22:13 blob");
    assert.equal(bin[1], "lrwxrwxrwx 1 0 0 4 2023-11-14 22:13 sh -> blob");
    const root = (await run(["ls", f.gvmi, "-l"])).stdout.toString();
    assert.match(root, /^drwxrwxrwt \d+ 0 0 \d+ 2023-11-14 22:13 data$/m);
    assert.equal(
      (await run(["ls", f.gvmi, "dev", "-l"])).stdout.toString(),
      "crw-rw-rw- 1 0 0 1, 3 2023-11-14 22:13 null\n",
    );
    // A file path lists that file alone.
    assert.equal(
      (await run(["ls", f.gvmi, "etc/hostname", "-l"])).stdout.toString(),
      "-rw-r--r-- 1 1000 100 6 2023-11-14 22:13 hostname\n",
    );
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("ls -R: every directory, depth first", async () => {
  const f = await makeFixture();
  try {
    const r = await run(["ls", f.gvmi, "-R"]);
    assert.equal(
      r.stdout.toString(),
      "/:\nbin\ndata\ndev\netc\n\n/bin:\nblob\nsh\n\n/data:\n\n/dev:\nnull\n\n/etc:\nhostname\n",
    );
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("ls: a missing path or a path through a symlink is one coded error line", async () => {
  const f = await makeFixture();
  try {
    const missing = await run(["ls", f.gvmi, "/nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^gvmconv: error \[E_SQUASHFS_NOT_FOUND\]: [^\n]+\n$/);
    const through = await run(["ls", f.gvmi, "bin/sh/x"]);
    assert.match(through.stderr, /^gvmconv: error \[E_SQUASHFS_NOT_A_DIRECTORY\]: [^\n]+\n$/);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("modeString renders setuid, setgid and sticky like ls", () => {
  assert.equal(modeString(0o104755), "-rwsr-xr-x");
  assert.equal(modeString(0o102644), "-rw-r-Sr--");
  assert.equal(modeString(0o041777), "drwxrwxrwt");
  assert.equal(modeString(0o041776), "drwxrwxrwT");
});
