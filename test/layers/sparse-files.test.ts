/**
 * Sparse files in tar input and layers, end to end: archives made by the real tools (GNU tar's
 * old GNU format and PAX sparse 0.0, 0.1 and 1.0; bsdtar, which writes PAX 1.0 for any file with
 * holes) from files with holes made by `truncate` and `dd seek=`, converted by `gvmconv squashfs`
 * and through an OCI image by `convert`, and checked with `unsquashfs` against the originals.
 * Then squashfs-tools-ng's sparse fixtures, with what its own tests expect, and hostile maps.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { readTarRecords, type TarRecord } from "../../src/layers/tar-reader.js";
import { DataWriter } from "../../src/squashfs/writer/data-writer.js";
import { OutputSink } from "../../src/squashfs/writer/output-sink.js";
import { HOLE_CHUNK_SIZE, MAX_SPARSE_SEGMENTS } from "../../src/tar/index.js";
import { hermeticEnv, tmp, writeLayout } from "../oci/helpers.js";
import { imageFromTars } from "../e2e/support.js";
import { runCli } from "../support/cli-run.js";
import { rawTarHeader } from "../support/tar.js";

const FIXTURES = new URL("../../../test/fixtures/tar-sparse/", import.meta.url).pathname;
const MiB = 1024 * 1024;

let work = "";
/** The originals: name → [size, sha256], from the files themselves. */
const originals = new Map<string, { size: number; sha256: string }>();
/** Each tool's archive of the originals (under `<variant>/`). */
const archives = new Map<string, string>();

const sh = (script: string): string => execFileSync("sh", ["-euc", script], { cwd: work, encoding: "utf8" });
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** How each tool is asked for a sparse archive of the directory `src`. */
const VARIANTS: Record<string, (tar: string, dir: string) => string> = {
  gnu: (tar, dir) => `tar --sparse --format=gnu -cf ${tar} ${dir}`,
  "pax-0.0": (tar, dir) => `tar --sparse --format=posix --sparse-version=0.0 -cf ${tar} ${dir}`,
  "pax-0.1": (tar, dir) => `tar --sparse --format=posix --sparse-version=0.1 -cf ${tar} ${dir}`,
  "pax-1.0": (tar, dir) => `tar --sparse --format=posix --sparse-version=1.0 -cf ${tar} ${dir}`,
  bsdtar: (tar, dir) => `bsdtar -cf ${tar} ${dir}`,
};

before(async () => {
  work = await tmp("gvmconv-sparse-");
  // Data at the start, in the middle and at the end; all hole; data then a hole to the end.
  sh(`mkdir src
    printf start > src/mixed
    dd if=/dev/urandom of=src/mixed bs=1 count=3000 seek=${3 * MiB + 123} conv=notrunc status=none
    truncate -s ${8 * MiB - 3} src/mixed
    printf end >> src/mixed
    truncate -s ${5 * MiB} src/all-hole
    dd if=/dev/urandom of=src/hole-at-end bs=1000 count=70 status=none
    truncate -s ${3 * MiB + 17} src/hole-at-end`);
  for (const name of ["mixed", "all-hole", "hole-at-end"]) {
    const bytes = readFileSync(join(work, "src", name));
    originals.set(name, { size: bytes.length, sha256: sha256(bytes) });
    const { blocks } = statSync(join(work, "src", name));
    assert.ok(blocks * 512 < bytes.length / 4, `${name} has holes on disk (${blocks} blocks)`);
  }
  for (const [variant, command] of Object.entries(VARIANTS)) {
    // Each variant's copy under its own directory, so one image can hold them all as layers.
    sh(`cp -a --sparse=always src ${variant} && ${command(`${variant}.tar`, variant)}`);
    archives.set(variant, join(work, `${variant}.tar`));
  }
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const totalSize = (): number => [...originals.values()].reduce((sum, o) => sum + o.size, 0);

/** Unpacks `image` with unsquashfs and checks each original under `dir` (size and sha256). */
function checkUnpacked(image: string, dir: string, what: string): void {
  const out = join(work, `unpacked-${what}`);
  execFileSync("unsquashfs", ["-q", "-n", "-d", out, image], { stdio: "ignore" });
  try {
    for (const [name, original] of originals) {
      const bytes = readFileSync(join(out, dir, name));
      assert.equal(bytes.length, original.size, `${what}: ${dir}/${name} size`);
      assert.equal(sha256(bytes), original.sha256, `${what}: ${dir}/${name} content`);
    }
  } finally {
    execFileSync("rm", ["-rf", out]);
  }
}

test("the tools' archives really are sparse: each holds a fraction of the files' size", () => {
  for (const [variant, tar] of archives) {
    const size = statSync(tar).size;
    assert.ok(size < totalSize() / 20, `${variant}: ${size} bytes for ${totalSize()}`);
    const bytes = readFileSync(tar);
    if (variant === "gnu") {
      let sparseHeaders = 0;
      for (let off = 0; off + 512 <= bytes.length; off += 512) {
        const gnuMagic = bytes.toString("latin1", off + 257, off + 265) === "ustar  \0";
        if (gnuMagic && bytes[off + 156] === 0x53) sparseHeaders++;
      }
      assert.equal(sparseHeaders, originals.size, "one old GNU sparse (S) header per file");
    } else {
      const sizes = bytes.toString("latin1").match(/GNU\.sparse\.(real)?size=/g);
      assert.equal(sizes?.length, originals.size, `${variant}: PAX sparse records for each file`);
    }
  }
});

for (const variant of Object.keys(VARIANTS)) {
  test(`gvmconv squashfs on ${variant}'s archive: unsquashfs gives the files back, stored sparse`, async () => {
    const out = join(work, `${variant}.sqfs`);
    const r = await runCli(["squashfs", archives.get(variant)!, "-o", out], { env: {} });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
    // 73 kB of random data in 16 MiB: stored as holes, the image is a small fraction.
    const size = statSync(out).size;
    assert.ok(size < 256 * 1024, `${variant}: image of ${size} bytes`);
    checkUnpacked(out, variant, variant);
  });
}

test("the records carry the sparse format, the real name and the checked map", async () => {
  const formats: Record<string, string> = {
    gnu: "gnu",
    "pax-0.0": "0.0",
    "pax-0.1": "0.1",
    "pax-1.0": "1.0",
    bsdtar: "1.0",
  };
  for (const [variant, tar] of archives) {
    for await (const record of readTarRecords(Readable.from([readFileSync(tar)]))) {
      if (record.entry.type !== "file") continue;
      const name = record.entry.path.split("/").pop()!;
      assert.equal(
        record.entry.path,
        `${variant}/${name}`,
        `${variant}: the real name, not GNUSparseFile.<pid>`,
      );
      assert.equal(record.entry.size, originals.get(name)?.size);
      assert.equal(record.sparse?.format, formats[variant]);
      let bytes = 0;
      for await (const c of record.content!) bytes += c.length;
      assert.equal(bytes, record.entry.size);
      const map = record.sparse?.map;
      assert.ok(map !== undefined && map.realSize === record.entry.size, `${variant}/${name}: map read`);
    }
  }
});

test("convert: every tool's archive as a layer of one OCI image unpacks to the originals", async () => {
  const layout = join(work, "layout");
  const layers = [...archives.values()].map((tar) => readFileSync(tar));
  await writeLayout(layout, [{ kind: "image", ref: "latest", image: imageFromTars(layers, "gzip") }]);
  const out = join(work, "all.gvmi");
  const r = await runCli([`oci:${layout}:latest`, "-o", out, "--format", "squashfs"], {
    env: hermeticEnv(work),
  });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning \[W_TAR/);
  assert.ok(statSync(out).size < 1024 * 1024, "five copies of 16 MiB, stored sparse");
  for (const variant of archives.keys()) checkUnpacked(out, variant, `convert-${variant}`);
});

// ---- squashfs-tools-ng's fixtures (test/fixtures/tar-sparse/NOTES.md) ----

async function onlyRecord(path: string): Promise<{ record: TarRecord; bytes: Buffer }> {
  const found: Array<{ record: TarRecord; bytes: Buffer }> = [];
  for await (const record of readTarRecords(Readable.from([readFileSync(path)]))) {
    const parts: Buffer[] = [];
    for await (const c of record.content ?? []) parts.push(Buffer.from(c));
    found.push({ record, bytes: Buffer.concat(parts) });
  }
  assert.equal(found.length, 1);
  return found[0]!;
}

const seg = (offset: number, length: number): { offset: number; length: number } => ({ offset, length });
const EIGHT_REGIONS = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => seg(i * 262144, 4096));

test("fixture gnu-small.tar: the map tar_sparse_gnu.c expects", async () => {
  const { record, bytes } = await onlyRecord(join(FIXTURES, "gnu-small.tar"));
  assert.equal(record.entry.type, "file");
  assert.equal(record.entry.path, "input.bin");
  if (record.entry.type !== "file") return;
  assert.equal(record.entry.attrs.mode, 0o644);
  assert.equal(record.entry.attrs.uid, 0o1750);
  assert.equal(record.entry.attrs.gid, 0o1750);
  assert.equal(record.entry.size, 524288);
  assert.deepEqual(record.sparse, {
    format: "gnu",
    map: { realSize: 524288, segments: [seg(0, 4096), seg(262144, 4096), seg(524288, 0)] },
  });
  assert.equal(bytes.length, 524288);
});

test("fixture pax-gnu0-0.tar: the map tar_sparse.c expects, and GNU tar's own extraction", async () => {
  const { record, bytes } = await onlyRecord(join(FIXTURES, "pax-gnu0-0.tar"));
  assert.equal(record.entry.path, "input.bin");
  assert.equal(record.sparse?.format, "0.0");
  assert.deepEqual(record.sparse?.map, { realSize: 2097152, segments: [...EIGHT_REGIONS, seg(2097152, 0)] });
  const dir = join(work, "gnu-tar-0.0");
  await mkdir(dir);
  execFileSync("tar", ["-C", dir, "-xf", join(FIXTURES, "pax-gnu0-0.tar")]);
  assert.equal(sha256(bytes), sha256(readFileSync(join(dir, "input.bin"))), "what GNU tar extracts");
});

test("fixture gnu-iterator.tar (one extension block): the A…H regions tar_iterator2.c expects, through squashfs", async () => {
  const { record, bytes } = await onlyRecord(join(FIXTURES, "gnu-iterator.tar"));
  assert.deepEqual(record.sparse?.map, { realSize: 2097152, segments: [...EIGHT_REGIONS, seg(2097152, 0)] });
  const expected = Buffer.alloc(2097152);
  EIGHT_REGIONS.forEach(({ offset }, i) => expected.fill(0x41 + i, offset, offset + 4096));
  assert.ok(bytes.equals(expected));

  const out = join(work, "iterator.sqfs");
  const r = await runCli(["squashfs", join(FIXTURES, "gnu-iterator.tar"), "-o", out], { env: {} });
  assert.equal(r.code, 0, r.stderr);
  const unpacked = join(work, "unpacked-iterator");
  execFileSync("unsquashfs", ["-q", "-n", "-d", unpacked, out], { stdio: "ignore" });
  assert.ok(readFileSync(join(unpacked, "input.bin")).equals(expected));
});

// ---- hostile maps ----

const oct = (n: number): string => n.toString(8).padStart(11, "0") + "\0";
const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const END = Buffer.alloc(1024);

function paxRecords(records: Array<[string, string]>): Buffer {
  let text = "";
  for (const [k, v] of records) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length > len) len++;
    text += `${len}${body}`;
  }
  return Buffer.from(text);
}

/** A PAX sparse member: the `x` header with `records`, then the file header and `data`. */
function paxSparse(records: Array<[string, string]>, data: Buffer, name = "GNUSparseFile.0/f"): Buffer {
  const pax = paxRecords(records);
  return Buffer.concat([
    rawTarHeader("PaxHeaders/f", "x", pax.length),
    pad(pax),
    rawTarHeader(name, "0", data.length),
    pad(data),
  ]);
}

/** An old GNU `S` header with `entries` in it (at most four) and `isextended`. */
function gnuSparseHeader(
  entries: Array<[number, number]>,
  realSize: number,
  stored: number,
  extended: boolean,
): Buffer {
  const fields: Array<[number, string]> = entries.map(([o, n], i) => [386 + i * 24, oct(o) + oct(n)]);
  fields.push([483, oct(realSize)]);
  if (extended) fields.push([482, "\x01"]);
  return rawTarHeader("f", "S", stored, fields, true);
}

const HOSTILE: Record<string, { tar: () => Buffer; code: string; message: RegExp }> = {
  "a 1.0 map declaring more entries than the bound": {
    tar: () =>
      paxSparse(
        [
          ["GNU.sparse.major", "1"],
          ["GNU.sparse.minor", "0"],
          ["GNU.sparse.name", "f"],
          ["GNU.sparse.realsize", "100"],
        ],
        Buffer.from(`${MAX_SPARSE_SEGMENTS + 1}\n`),
      ),
    code: "E_TAR_SPARSE_MAP",
    message: /more than 1000000/,
  },
  "an old GNU extension chain past the bound": {
    tar: () => {
      const blocks = Math.ceil(MAX_SPARSE_SEGMENTS / 21) + 1;
      const ext = Buffer.alloc(512);
      for (let i = 0; i < 21; i++) ext.write(oct(0) + oct(0), i * 24, "latin1");
      ext[504] = 1;
      return Buffer.concat([gnuSparseHeader([[0, 0]], 10, 0, true), ...Array<Buffer>(blocks).fill(ext), END]);
    },
    code: "E_TAR_SPARSE_MAP",
    message: /more than 1000000 map entries/,
  },
  "overlapping entries (PAX 0.1)": {
    tar: () =>
      Buffer.concat([
        paxSparse(
          [
            ["GNU.sparse.size", "1000"],
            ["GNU.sparse.map", "0,100,50,100"],
            ["GNU.sparse.name", "f"],
          ],
          Buffer.alloc(200, 1),
        ),
        END,
      ]),
    code: "E_TAR_SPARSE_MAP",
    message: /unsorted or overlapping/,
  },
  "a map beyond the real size (old GNU)": {
    tar: () =>
      Buffer.concat([
        gnuSparseHeader(
          [
            [0, 512],
            [4096, 512],
          ],
          1000,
          1024,
          false,
        ),
        Buffer.alloc(1024, 7),
        END,
      ]),
    code: "E_TAR_SPARSE_MAP",
    message: /4096\+512 ends beyond the real size 1000/,
  },
  "a real size past 2^53 (PAX 1.0)": {
    tar: () =>
      Buffer.concat([
        paxSparse(
          [
            ["GNU.sparse.major", "1"],
            ["GNU.sparse.minor", "0"],
            ["GNU.sparse.name", "f"],
            ["GNU.sparse.realsize", "9007199254740993"],
          ],
          Buffer.from("0\n"),
        ),
        END,
      ]),
    code: "E_TAR_SPARSE_MAP",
    message: /beyond 2\^53-1/,
  },
  "a 1.0 map truncated by the end of its member": {
    tar: () =>
      Buffer.concat([
        paxSparse(
          [
            ["GNU.sparse.major", "1"],
            ["GNU.sparse.minor", "0"],
            ["GNU.sparse.name", "f"],
            ["GNU.sparse.realsize", "100"],
          ],
          Buffer.from("3\n0\n10\n20\n"),
        ),
        END,
      ]),
    code: "E_TAR_SPARSE_MAP",
    message: /truncated/,
  },
  "an old GNU header promising an extension block the archive does not have": {
    tar: () => gnuSparseHeader([[0, 10]], 10, 10, true),
    code: "E_TAR_FORMAT",
    message: /ends inside an old GNU sparse header's extension blocks/,
  },
};

for (const [what, { tar, code, message }] of Object.entries(HOSTILE)) {
  test(`hostile sparse map, ${what}: one clear error, no output`, async () => {
    const dir = join(work, `hostile-${what.replace(/\W+/g, "-")}`);
    await mkdir(dir);
    const input = join(dir, "in.tar");
    await writeFile(input, tar());
    const started = performance.now();
    const r = await runCli(["squashfs", input, "-o", join(dir, "out.sqfs")], { env: {} });
    assert.ok(performance.now() - started < 20_000, "bounded time");
    assert.equal(r.code, 1);
    const lines = r.stderr
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("gvmconv: reading"));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^gvmconv: error \\[${code}\\]: `));
    assert.match(lines[0]!, message);
    assert.deepEqual(await readdir(dir), ["in.tar"], "nothing partial left behind");
  });
}

// ---- holes in the writer ----

test("the writer stores holes sparse after one memcmp, and dedupes sparse files whatever their chunking", async () => {
  const path = join(work, "dw.img");
  const sink = await OutputSink.open(path);
  const bs = 131072;
  const dw = new DataWriter({ sink, spec: { name: "gzip", level: 6, blockSize: bs }, workers: 0 });
  const content = Buffer.alloc(10 * bs + 77);
  content.write("data", 3 * bs + 5);
  const hole = Buffer.alloc(HOLE_CHUNK_SIZE);
  async function* asHoles(): AsyncGenerator<Uint8Array> {
    yield hole.subarray(0, 3 * bs);
    yield content.subarray(3 * bs, 4 * bs);
    for (let left = 6 * bs + 77; left > 0; left -= HOLE_CHUNK_SIZE)
      yield hole.subarray(0, Math.min(left, HOLE_CHUNK_SIZE));
  }
  async function* bytewise(): AsyncGenerator<Uint8Array> {
    for (let off = 0; off < content.length; off += 4099) yield content.subarray(off, off + 4099);
  }
  const a = await dw.writeFile(content.length, asHoles());
  assert.equal(dw.layout(a).sparseBytes, 9 * bs);
  const b = await dw.writeFile(content.length, bytewise());
  assert.equal(b, a, "the same content in other chunks is a duplicate");
  const moved = Buffer.from(content);
  moved.fill(0, 3 * bs, 4 * bs);
  moved.write("data", 5 * bs);
  const c = await dw.writeFile(moved.length, moved);
  assert.notEqual(c, a, "the same data in another block is not");
  await dw.finish();
  // Stored blocks' size words are final once finish() resolves; a hole's is 0 from the start.
  assert.deepEqual(
    dw.layout(a).blockSizes.map((s) => s === 0),
    [true, true, true, false, true, true, true, true, true, true],
  );
  await dw.close();
  await sink.close();
  assert.ok((await readFile(path)).length < 8192, "two stored blocks and a fragment");
});
