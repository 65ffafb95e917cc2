import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, linkSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTar, readTarRecords, TAR_WARNINGS } from "../../src/layers/tar-reader.js";
import { normalizeTarPath, parsePaxRecords } from "../../src/tar/index.js";
import { DIRECTORY_WARNINGS } from "../../src/layers/directory-source.js";
import { CollectingReporter } from "../../src/reporter.js";
import type { Entry } from "../../src/squashfs/index.js";
import { packTar } from "../support/tar.js";

/** Reads every entry, collecting file contents as strings. */
async function collect(
  tar: Buffer,
  reporter = new CollectingReporter(),
): Promise<{ entries: Entry[]; contents: Map<string, Buffer> }> {
  const entries: Entry[] = [];
  const contents = new Map<string, Buffer>();
  for await (const entry of readTar(Readable.from([tar]), { reporter })) {
    entries.push(entry);
    if (entry.type === "file") {
      const parts: Uint8Array[] = [];
      for await (const c of entry.content as AsyncIterable<Uint8Array>) parts.push(c);
      contents.set(entry.path, Buffer.concat(parts));
    }
  }
  return { entries, contents };
}

const mtime = new Date(1_700_000_000_000);

// ---- raw header helpers, for variants tar-stream's pack cannot write ----

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
}

function rawHeader(fields: {
  name: string;
  type: string;
  size?: number;
  mode?: number;
  uid?: number;
  base256Uid?: number;
  linkname?: string;
}): Buffer {
  const buf = Buffer.alloc(512);
  buf.write(fields.name, 0, 100, "utf8");
  octal(buf, 100, 8, fields.mode ?? 0o644);
  if (fields.base256Uid !== undefined) {
    // base-256: 0x80 marker, big-endian value in the remaining 7 bytes.
    buf[108] = 0x80;
    let v = fields.base256Uid;
    for (let i = 115; i > 108; i--) {
      buf[i] = v & 0xff;
      v = Math.floor(v / 256);
    }
  } else octal(buf, 108, 8, fields.uid ?? 0);
  octal(buf, 116, 8, 0);
  octal(buf, 124, 12, fields.size ?? 0);
  octal(buf, 136, 12, 1_700_000_000);
  buf.write(fields.type, 156, 1, "latin1");
  if (fields.linkname) buf.write(fields.linkname, 157, 100, "utf8");
  buf.write("ustar\0", 257, 6, "latin1");
  buf.write("00", 263, 2, "latin1");
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of buf) sum += b;
  buf.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return buf;
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const END = Buffer.alloc(1024);

test("normalizeTarPath strips ./ and /, resolves . and .. inside the root", () => {
  assert.equal(normalizeTarPath("./a/b/"), "a/b");
  assert.equal(normalizeTarPath("/etc//passwd"), "etc/passwd");
  assert.equal(normalizeTarPath("a/./b/../c"), "a/c");
  assert.equal(normalizeTarPath("../../etc/shadow"), "etc/shadow");
  assert.equal(normalizeTarPath("a/../../b"), "b");
  assert.equal(normalizeTarPath("./"), "");
  assert.equal(normalizeTarPath("."), "");
  assert.equal(normalizeTarPath("usr/.wh.lib"), "usr/.wh.lib");
});

test("parsePaxRecords keeps values as bytes", () => {
  const raw = Buffer.concat([
    paxRecord("path", Buffer.from("x/y")),
    paxRecord("SCHILY.xattr.security.capability", Buffer.from([1, 0, 0, 2, 0xff, 0x80, 0x0a, 0])),
  ]);
  const records = parsePaxRecords(raw);
  assert.deepEqual(Buffer.from(records.get("path")!).toString(), "x/y");
  assert.deepEqual([...records.get("SCHILY.xattr.security.capability")!], [1, 0, 0, 2, 0xff, 0x80, 0x0a, 0]);
});

test("maps every tar-stream member type to an Entry", async () => {
  const tar = await packTar([
    { header: { name: "./", type: "directory", mode: 0o755, mtime } },
    { header: { name: "./etc/", type: "directory", mode: 0o750, uid: 1, gid: 2, mtime } },
    {
      header: { name: "./etc/hosts", type: "file", mode: 0o4644, uid: 3, gid: 4, mtime },
      body: "127.0.0.1 localhost\n",
    },
    { header: { name: "etc/link", type: "symlink", linkname: "../hosts", mode: 0o777, mtime } },
    { header: { name: "etc/hard", type: "link", linkname: "./etc/hosts", mode: 0o600, mtime } },
    { header: { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666, mtime } },
    { header: { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0, mode: 0o660, mtime } },
    { header: { name: "run/pipe", type: "fifo", mode: 0o644, mtime } },
    { header: { name: "usr/.wh.lib", type: "file", mode: 0o644, mtime } },
  ]);
  const { entries, contents } = await collect(tar);
  const simple = entries.map((e) => ({ ...e, content: undefined }));
  assert.deepEqual(simple, [
    {
      type: "directory",
      path: "",
      attrs: { mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 },
      content: undefined,
    },
    {
      type: "directory",
      path: "etc",
      attrs: { mode: 0o750, uid: 1, gid: 2, mtime: 1_700_000_000 },
      content: undefined,
    },
    {
      type: "file",
      path: "etc/hosts",
      attrs: { mode: 0o4644, uid: 3, gid: 4, mtime: 1_700_000_000 },
      size: 20,
      content: undefined,
    },
    {
      type: "symlink",
      path: "etc/link",
      attrs: { mode: 0o777, uid: 0, gid: 0, mtime: 1_700_000_000 },
      target: "../hosts",
      content: undefined,
    },
    { type: "hardlink", path: "etc/hard", target: "etc/hosts", content: undefined },
    {
      type: "char-device",
      path: "dev/null",
      attrs: { mode: 0o666, uid: 0, gid: 0, mtime: 1_700_000_000 },
      major: 1,
      minor: 3,
      content: undefined,
    },
    {
      type: "block-device",
      path: "dev/sda",
      attrs: { mode: 0o660, uid: 0, gid: 0, mtime: 1_700_000_000 },
      major: 8,
      minor: 0,
      content: undefined,
    },
    {
      type: "fifo",
      path: "run/pipe",
      attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 },
      content: undefined,
    },
    {
      type: "file",
      path: "usr/.wh.lib",
      attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 },
      size: 0,
      content: undefined,
    },
  ]);
  assert.equal(contents.get("etc/hosts")?.toString(), "127.0.0.1 localhost\n");
});

test("gzip input is detected by its magic", async () => {
  const tar = await packTar([{ header: { name: "a.txt", mtime }, body: "hello" }]);
  const { entries, contents } = await collect(gzipSync(tar));
  assert.equal(entries.length, 1);
  assert.equal(contents.get("a.txt")?.toString(), "hello");
});

test("the magic is sniffed across tiny chunks; inputs shorter than it end or fail cleanly", async () => {
  const tar = await packTar([{ header: { name: "a.txt", mtime }, body: "hello" }]);
  for (const bytes of [tar, gzipSync(tar)]) {
    // One byte per chunk for the first ten, then the rest: the 4-byte peek spans chunks.
    const chunks = [...Array.from({ length: 10 }, (_, i) => bytes.subarray(i, i + 1)), bytes.subarray(10)];
    const names: string[] = [];
    for await (const entry of readTar(Readable.from(chunks))) {
      names.push(entry.path);
      if (entry.type === "file") for await (const _ of entry.content as AsyncIterable<Uint8Array>) void _;
    }
    assert.deepEqual(names, ["a.txt"]);
  }
  assert.deepEqual((await collect(Buffer.alloc(0))).entries, [], "an empty input is an empty archive");
  await assert.rejects(collect(Buffer.from("ab")), { code: "E_TAR_FORMAT" });
  await assert.rejects(collect(Buffer.from([0x1f, 0x8b])), { code: "E_TAR_FORMAT" });
});

test("unread and half-read file content is drained before the next entry", async () => {
  const big = Buffer.alloc(300_000, 7);
  const tar = await packTar([
    { header: { name: "a", mtime }, body: big },
    { header: { name: "b", mtime }, body: big },
    { header: { name: "c", mtime }, body: "tail" },
  ]);
  const seen: string[] = [];
  let i = 0;
  for await (const entry of readTar(Readable.from([tar.subarray(0, 1000), tar.subarray(1000)]))) {
    seen.push(entry.path);
    if (entry.type !== "file") continue;
    if (i++ === 1) {
      // read one chunk and stop: must not destroy the archive
      for await (const _ of entry.content as AsyncIterable<Uint8Array>) break;
    }
    if (entry.path === "c") {
      const parts: Uint8Array[] = [];
      for await (const c of entry.content as AsyncIterable<Uint8Array>) parts.push(c);
      assert.equal(Buffer.concat(parts).toString(), "tail");
    }
  }
  assert.deepEqual(seen, ["a", "b", "c"]);
});

test("records carry the raw name and data offset", async () => {
  const tar = await packTar([
    { header: { name: "./x/../y", mtime }, body: "12345" },
    { header: { name: "z", mtime }, body: "abc" },
  ]);
  const records = [];
  for await (const r of readTarRecords(Readable.from([tar])))
    records.push({ name: r.name, path: r.entry.path, dataOffset: r.dataOffset });
  assert.deepEqual(records, [
    { name: "./x/../y", path: "y", dataOffset: 512 },
    { name: "z", path: "z", dataOffset: 1536 },
  ]);
  assert.equal(tar.subarray(1536, 1539).toString(), "abc");
});

test("PAX path, linkpath, size, uid, gid, mtime and binary SCHILY.xattr values", async () => {
  const capability = Buffer.from([
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0x80, 0x00, 0x0a, 0, 0, 0, 0, 0, 0, 0,
  ]);
  const longName = "deep/" + "d".repeat(120) + "/file-é.txt";
  const pax = Buffer.concat([
    paxRecord("path", Buffer.from(longName)),
    paxRecord("uid", Buffer.from("3000000")),
    paxRecord("gid", Buffer.from("70000")),
    paxRecord("mtime", Buffer.from("1600000000.987654321")),
    paxRecord("size", Buffer.from("4")),
    paxRecord("SCHILY.xattr.security.capability", capability),
    paxRecord("SCHILY.xattr.user.comment", Buffer.from("héllo")),
  ]);
  const linkPax = Buffer.concat([
    paxRecord("path", Buffer.from("short-link")),
    paxRecord("linkpath", Buffer.from("/" + longName)),
  ]);
  const tar = Buffer.concat([
    rawHeader({ name: "PaxHeaders/x", type: "x", size: pax.length }),
    padded(pax),
    rawHeader({ name: "truncated-name", type: "0", size: 0 /* overridden by pax size */ }),
    padded(Buffer.from("data")),
    rawHeader({ name: "PaxHeaders/y", type: "x", size: linkPax.length }),
    padded(linkPax),
    rawHeader({ name: "ignored", type: "1" }),
    END,
  ]);
  const { entries, contents } = await collect(tar);
  assert.equal(entries.length, 2);
  const file = entries[0]!;
  assert.equal(file.type, "file");
  assert.equal(file.path, longName);
  if (file.type !== "file") return;
  assert.equal(file.size, 4);
  assert.equal(file.attrs.uid, 3_000_000);
  assert.equal(file.attrs.gid, 70_000);
  assert.equal(file.attrs.mtime, 1_600_000_000);
  assert.deepEqual([...(file.attrs.xattrs?.get("security.capability") ?? [])], [...capability]);
  assert.equal(Buffer.from(file.attrs.xattrs?.get("user.comment") ?? []).toString(), "héllo");
  assert.equal(contents.get(longName)?.toString(), "data");
  assert.deepEqual(entries[1], { type: "hardlink", path: "short-link", target: longName });
});

test("base-256 numbers and GNU long names", async () => {
  const longName = "g/" + "n".repeat(150);
  const longBuf = Buffer.from(longName + "\0");
  const gnuHeader = rawHeader({ name: "././@LongLink", type: "L", size: longBuf.length });
  const tar = Buffer.concat([
    gnuHeader,
    padded(longBuf),
    rawHeader({ name: "cut", type: "0", base256Uid: 5_000_000_000 }),
    END,
  ]);
  const { entries } = await collect(tar);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.path, longName);
  assert.equal(entries[0]!.type === "file" && entries[0]!.attrs.uid, 5_000_000_000);
});

test("unknown entry types and unusable paths are skipped with coded warnings", async () => {
  const tar = Buffer.concat([
    rawHeader({ name: "vol", type: "V" }),
    rawHeader({ name: "dumpdir", type: "D", size: 5 }),
    padded(Buffer.from("xxxxx")),
    rawHeader({ name: "./", type: "0" }),
    rawHeader({ name: "lnk", type: "1", linkname: "../" }),
    rawHeader({ name: "ok", type: "0" }),
    END,
  ]);
  const reporter = new CollectingReporter();
  const { entries } = await collect(tar, reporter);
  assert.deepEqual(
    entries.map((e) => e.path),
    ["ok"],
  );
  assert.deepEqual(
    reporter.warnings.map((w) => w.code),
    ["W_TAR_UNKNOWN_TYPE", "W_TAR_UNKNOWN_TYPE", "W_TAR_INVALID_PATH", "W_TAR_INVALID_PATH"],
  );
});

test("an mtime SquashFS cannot store is clamped with the directory walker's code, W_LAYER_MTIME_RANGE", async () => {
  const pax = paxRecord("mtime", Buffer.from("-5"));
  const tar = Buffer.concat([
    rawHeader({ name: "PaxHeaders/old", type: "x", size: pax.length }),
    padded(pax),
    rawHeader({ name: "old", type: "0" }),
    END,
  ]);
  const reporter = new CollectingReporter();
  const { entries } = await collect(tar, reporter);
  assert.equal(entries[0]?.type === "file" && entries[0].attrs.mtime, 0);
  assert.deepEqual(
    reporter.warnings.map((w) => w.code),
    ["W_LAYER_MTIME_RANGE"],
  );
  assert.equal(TAR_WARNINGS.mtimeRange, DIRECTORY_WARNINGS.mtimeRange);
});

test("a truncated archive is an E_TAR_FORMAT error", async () => {
  const tar = await packTar([{ header: { name: "a", mtime }, body: Buffer.alloc(4096, 1) }]);
  await assert.rejects(collect(tar.subarray(0, 2000)), { code: "E_TAR_FORMAT" });
  await assert.rejects(collect(Buffer.alloc(512, 0x41)), { code: "E_TAR_FORMAT" });
});

const haveXattrTools = spawnSync("setfattr", ["--version"]).status === 0;

test(
  "GNU tar --xattrs --format=posix: xattrs, hard links, long names",
  { skip: !haveXattrTools && "setfattr (Debian attr) not installed" },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-tar-"));
    try {
      const root = join(dir, "root");
      mkdirSync(join(root, "bin"), { recursive: true });
      writeFileSync(join(root, "bin", "ping"), "ping binary");
      linkSync(join(root, "bin", "ping"), join(root, "bin", "ping6"));
      symlinkSync("ping", join(root, "bin", "pong"));
      const long = "l".repeat(200);
      writeFileSync(join(root, long), "long");
      execFileSync("setfattr", [
        "-n",
        "security.capability",
        "-v",
        "0x0100000200200000000000000000000000000000",
        join(root, "bin", "ping"),
      ]);
      execFileSync("setfattr", ["-n", "user.mime", "-v", "text/plain", join(root, long)]);
      const out = join(dir, "out.tar");
      execFileSync("tar", [
        "--xattrs",
        "--xattrs-include=*",
        "--format=posix",
        "--numeric-owner",
        "--sort=name",
        "-C",
        root,
        "-cf",
        out,
        ".",
      ]);
      const { entries, contents } = await collect(readFileSync(out));
      const byPath = new Map(entries.map((e) => [e.path, e]));
      const ping = byPath.get("bin/ping");
      assert.equal(ping?.type, "file");
      assert.equal(
        Buffer.from((ping?.type === "file" && ping.attrs.xattrs?.get("security.capability")) || []).toString(
          "hex",
        ),
        "0100000200200000000000000000000000000000",
      );
      assert.deepEqual(byPath.get("bin/ping6"), { type: "hardlink", path: "bin/ping6", target: "bin/ping" });
      assert.equal(byPath.get("bin/pong")?.type === "symlink" && byPath.get("bin/pong")?.type, "symlink");
      const l = byPath.get(long);
      assert.equal(
        Buffer.from((l?.type === "file" && l.attrs.xattrs?.get("user.mime")) || []).toString(),
        "text/plain",
      );
      assert.equal(contents.get(long)?.toString(), "long");
      assert.equal(contents.get("bin/ping")?.toString(), "ping binary");
      assert.equal(byPath.get("")?.type, "directory");

      // The same tree in GNU format (long names through ././@LongLink), gzip-compressed.
      const gnu = join(dir, "gnu.tar.gz");
      execFileSync("tar", ["--format=gnu", "-z", "-C", root, "-cf", gnu, "."]);
      const gnuRead = await collect(readFileSync(gnu));
      assert.equal(gnuRead.contents.get(long)?.toString(), "long");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("an old GNU sparse member's extension blocks are not data: the member after it reads intact, across any chunking", async () => {
  // GNU tar's old format keeps 4 map entries in the header and 21 per extension block: 30 data
  // runs need two extension blocks. tar-stream alone would hand those out as data and then read
  // the sparse member's last data blocks as headers.
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-tar-gnu-sparse-"));
  try {
    const script = [
      "i=0",
      'while [ $i -lt 30 ]; do printf "run$i" | dd of=holes bs=1 seek=$((i * 65536 + 7)) conv=notrunc status=none; i=$((i + 1)); done',
      "truncate -s 3000000 holes",
      "printf 'after\\n' > after.txt",
      "tar --sparse --format=gnu -cf gnu.tar holes after.txt",
    ].join("\n");
    execFileSync("sh", ["-euc", script], { cwd: dir });
    const tar = readFileSync(join(dir, "gnu.tar"));
    // The S header's isextended flag, and the first extension block's.
    assert.equal(tar[156], 0x53);
    assert.equal(tar[482], 1);
    assert.equal(tar[512 + 504], 1);
    const holes = readFileSync(join(dir, "holes"));
    for (const size of [97, 512, 1, 70000]) {
      const chunks: Buffer[] = [];
      for (let off = 0; off < tar.length; off += size) chunks.push(tar.subarray(off, off + size));
      const contents = new Map<string, Buffer>();
      const reporter = new CollectingReporter();
      for await (const record of readTarRecords(Readable.from(chunks), { reporter })) {
        const parts: Uint8Array[] = [];
        for await (const c of record.content ?? []) parts.push(c);
        contents.set(record.entry.path, Buffer.concat(parts));
        if (record.entry.path === "holes") assert.equal(record.sparse?.map?.segments.length, 31);
      }
      assert.deepEqual(reporter.warnings, []);
      assert.deepEqual([...contents.keys()], ["holes", "after.txt"], `chunks of ${size}`);
      assert.ok(contents.get("holes")?.equals(holes), `chunks of ${size}: the real content`);
      assert.equal(contents.get("after.txt")?.toString(), "after\n");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("PAX sparse 0.0 with a size and no segments is all hole; sparse records on a symlink change nothing", async () => {
  const tar = await packTar([
    { header: { name: "zeros", mtime, pax: { "GNU.sparse.size": "70000", "GNU.sparse.numblocks": "0" } } },
    {
      header: {
        name: "link",
        type: "symlink",
        linkname: "zeros",
        mtime,
        pax: { "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "5" },
      },
    },
  ]);
  const { entries, contents } = await collect(tar);
  assert.deepEqual(
    entries.map((e) => [e.type, e.path]),
    [
      ["file", "zeros"],
      ["symlink", "link"],
    ],
  );
  assert.ok(contents.get("zeros")?.equals(Buffer.alloc(70000)));
});
