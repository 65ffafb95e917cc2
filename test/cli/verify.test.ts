import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeFixture, run } from "./image-fixture.js";

test("verify: a good .gvmi passes, with and without --hash", async () => {
  const f = await makeFixture();
  try {
    const r = await run(["verify", f.gvmi]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout.toString(),
      /: ok — gvmi: trailer and CRC ok; 9 inodes \(2 files, 5 directories\), 200006 bytes/,
    );
    const h = await run(["verify", f.gvmi, "--hash", f.sha3.toUpperCase()]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout.toString(), /\(matches\)/);
    assert.equal((await run(["verify", f.squashfs])).code, 0);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("verify: wrong hash, bad CRC, damaged data and a malformed --hash each fail with one line", async () => {
  const f = await makeFixture();
  try {
    const wrong = await run(["verify", f.gvmi, "--hash", "0".repeat(56)]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^gvmconv: error \[E_GVMI_HASH_MISMATCH\]: [^\n]+\n$/);

    const good = readFileSync(f.gvmi);
    const bad = join(f.dir, "bad.gvmi");
    // A flipped byte in the JSON: the trailer CRC no longer matches.
    const json = Buffer.from(good);
    json[json.length - 20] = json[json.length - 20]! ^ 1;
    writeFileSync(bad, json);
    assert.match((await run(["verify", bad])).stderr, /^gvmconv: error \[E_GVMI_CRC\]: [^\n]+\n$/);

    // A flipped byte inside the file data: caught when the block is decompressed.
    const data = Buffer.from(good);
    data[200] = data[200]! ^ 0xff;
    writeFileSync(bad, data);
    const d = await run(["verify", bad]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /^gvmconv: error \[E_SQUASHFS_DECOMPRESS\]: [^\n]+\n$/);

    // The SquashFS cut short: the .gvmi's trailer is intact but the superblock lies about its size.
    const sbBytes = Buffer.from(good);
    sbBytes.writeBigUInt64LE(BigInt(good.length * 2), 40);
    writeFileSync(bad, sbBytes);
    assert.match(
      (await run(["verify", bad])).stderr,
      /^gvmconv: error \[E_GVMI_SQUASHFS_TRUNCATED\]|^gvmconv: error \[E_SQUASHFS_TRUNCATED\]/,
    );

    const usage = await run(["verify", f.gvmi, "--hash", "xyz"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^gvmconv: error \[E_USAGE\]: [^\n]+\n$/);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("verify: a .gvmi with its trailer cut off is not passed off as a plain image", async () => {
  const f = await makeFixture();
  try {
    const good = readFileSync(f.gvmi);
    const cut = join(f.dir, "cut.gvmi");
    writeFileSync(cut, good.subarray(0, good.length - 3));
    const r = await run(["verify", cut]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gvmconv: error \[E_GVMI_TRAILER\]: [^\n]+\n$/);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});
