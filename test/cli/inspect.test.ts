import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSquashfs, type Entry } from "../../src/squashfs/index.js";
import { CONFIG, makeFixture, run } from "./image-fixture.js";

test("inspect: config, hash, compression, sizes, inodes, mkfs time", async () => {
  const f = await makeFixture();
  try {
    const r = await run(["inspect", f.gvmi]);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /format:\s+gvmi/);
    assert.match(text, new RegExp(`sha3-224:\\s+${f.sha3}`));
    assert.match(text, /compression: gzip/);
    assert.match(text, /block size:\s+131072/);
    assert.match(text, /inodes:\s+9\n/);
    assert.match(text, /"\/bin\/sh"/);

    const j = await run(["inspect", f.gvmi, "--json"]);
    assert.equal(j.code, 0, j.stderr);
    const info = JSON.parse(j.stdout.toString()) as {
      format: string;
      sha3: string;
      squashfs: {
        compression: string;
        inodes: number;
        bytesUsed: number;
        partSize: number;
        mkfsTime: number;
      };
      config: Record<string, unknown>;
    };
    assert.equal(info.format, "gvmi");
    assert.equal(info.sha3, f.sha3);
    assert.equal(info.squashfs.compression, "gzip");
    assert.equal(info.squashfs.inodes, 9);
    assert.equal(info.squashfs.partSize % 4096, 0);
    assert.ok(info.squashfs.bytesUsed <= info.squashfs.partSize);
    assert.deepEqual(info.config, CONFIG);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("inspect: a plain SquashFS image is accepted and said to be one", async () => {
  const f = await makeFixture();
  try {
    const r = await run(["inspect", f.squashfs, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout.toString()) as { format: string; config: unknown };
    assert.equal(info.format, "squashfs");
    assert.equal(info.config, null);
    assert.match(
      (await run(["inspect", f.squashfs])).stdout.toString(),
      /plain SquashFS \(no \.gvmi trailer\)/,
    );
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("inspect: a file that is neither gives one coded error line", async () => {
  const f = await makeFixture();
  try {
    const junk = join(f.dir, "junk");
    writeFileSync(junk, "hello, not an image at all");
    const r = await run(["inspect", junk]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gvmconv: error \[E_GVMI_TRAILER\]: [^\n]+\n$/);
    const missing = await run(["inspect", join(f.dir, "nope.gvmi")]);
    assert.notEqual(missing.code, 0);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("inspect: a gzip image says which encoder wrote it and at which level, levels 10–12 included", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-encoder-"));
  try {
    const body = Buffer.from(
      "encoder ".repeat(3000) + Array.from({ length: 500 }, (_, i) => i * i).join(","),
    );
    const entries = (): Entry[] => [
      {
        type: "file",
        path: "a.txt",
        attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 0 },
        size: body.length,
        content: body,
      },
      ...Array.from({ length: 60 }, (_, i): Entry => ({
        type: "directory",
        path: `d${i}`,
        attrs: { mode: 0o755, uid: i, gid: 0, mtime: i },
      })),
    ];
    for (const [gzipBackend, level] of [
      ["libdeflate", 6],
      ["libdeflate", 9],
      ["libdeflate", 12],
      ["zlib", 6],
      ["zlib", 9],
    ] as const) {
      const out = join(dir, `${gzipBackend}-${level}.sqfs`);
      const written = await writeSquashfs(entries(), out, {
        compression: "gzip",
        level,
        gzipBackend,
        workers: 0,
      });
      assert.equal(written.compressor.gzipBackend, gzipBackend);
      const r = await run(["inspect", out, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout.toString()) as {
        squashfs: { encoder: { backend: string; levels: number[] } | null };
      };
      // A small block can come out the same at neighbouring levels; the one used is among them.
      assert.equal(info.squashfs.encoder?.backend, gzipBackend, `${gzipBackend} ${level}`);
      assert.ok(
        info.squashfs.encoder.levels.includes(level),
        `${level} in ${info.squashfs.encoder.levels.join()}`,
      );
      if (level === 6) assert.deepEqual(info.squashfs.encoder.levels, [6], "recorded in the options block");
      assert.match(
        (await run(["inspect", out])).stdout.toString(),
        new RegExp(`encoder: +${gzipBackend}, level ([0-9]+ or )*${level}( or [0-9]+)*\n`),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
