import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SquashfsReader,
  verifySquashfs,
  writeSquashfs,
  type Entry,
  type SquashfsStat,
} from "../../../src/squashfs/index.js";
import { GvmconvError } from "../../../src/errors.js";

const haveMksquashfs = spawnSync("mksquashfs", ["-version"]).status !== null;
const isRoot = process.getuid?.() === 0;
const haveSetfattr = spawnSync("setfattr", ["--version"]).status !== null;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "gvmconv-reader-"));
}

/** Deterministic bytes (xorshift), incompressible enough to need several blocks. */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const BIG_XATTR = Buffer.alloc(3000, "v").toString();

/** The source tree the mksquashfs tests image: every inode kind the reader decodes. */
function makeTree(root: string): void {
  mkdirSync(join(root, "etc/deep/er"), { recursive: true });
  writeFileSync(join(root, "etc/hostname"), "golem\n");
  writeFileSync(join(root, "etc/deep/er/tail"), noise(5000, 1));
  writeFileSync(join(root, "empty"), "");
  writeFileSync(join(root, "big"), noise(3 * 131072 + 777, 2)); // full blocks + a fragment tail
  writeFileSync(join(root, "exact"), noise(131072, 3)); // exactly one block, no tail
  writeFileSync(join(root, "zeros-and-data"), Buffer.concat([Buffer.alloc(262144), noise(1000, 4)]));
  writeFileSync(join(root, "sparse"), "");
  truncateSync(join(root, "sparse"), 3 * 131072 + 10);
  const fd = openSync(join(root, "sparse"), "r+");
  writeSync(fd, Buffer.from("middle"), 0, 6, 131072 + 5);
  closeSync(fd);
  linkSync(join(root, "etc/hostname"), join(root, "hostname-link"));
  symlinkSync("etc/hostname", join(root, "symlink"));
  symlinkSync("/nowhere/" + "x".repeat(300), join(root, "long-symlink"));
  mkdirSync(join(root, "many"));
  for (let i = 0; i < 3000; i++)
    writeFileSync(join(root, "many", `entry-${String(i).padStart(4, "0")}-${"n".repeat(i % 40)}`), String(i));
  mkdirSync(join(root, "empty-dir"));
  writeFileSync(join(root, "setuid"), "#!/bin/sh\n", { mode: 0o4755 });
  if (isRoot) {
    execFileSync("mknod", [join(root, "null"), "c", "1", "3"]);
    execFileSync("mknod", [join(root, "loop9"), "b", "7", "300"]);
    execFileSync("mkfifo", [join(root, "fifo")]);
    execFileSync("chown", ["1234:5678", join(root, "etc/hostname")]);
  }
  if (isRoot && haveSetfattr) {
    execFileSync("setfattr", ["-n", "user.one", "-v", "1", join(root, "etc/hostname")]);
    execFileSync("setfattr", ["-n", "trusted.two", "-v", "0x00ff", join(root, "etc/hostname")]);
    // The same large value on two inodes with different sets: mksquashfs stores it out of line.
    execFileSync("setfattr", ["-n", "user.big", "-v", BIG_XATTR, join(root, "big")]);
    execFileSync("setfattr", ["-n", "user.big", "-v", BIG_XATTR, join(root, "etc")]);
    execFileSync("setfattr", ["-n", "user.other", "-v", "o", join(root, "etc")]);
  }
}

function expectedXattrs(path: string): Map<string, string> {
  const m = new Map<string, string>();
  if (!(isRoot && haveSetfattr)) return m;
  if (path === "etc/hostname" || path === "hostname-link") {
    m.set("user.one", "31");
    m.set("trusted.two", "00ff");
  }
  if (path === "big") m.set("user.big", Buffer.from(BIG_XATTR).toString("hex"));
  if (path === "etc") {
    m.set("user.big", Buffer.from(BIG_XATTR).toString("hex"));
    m.set("user.other", "6f");
  }
  return m;
}

async function content(
  reader: SquashfsReader,
  file: Parameters<SquashfsReader["readFile"]>[0],
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of reader.readFile(file)) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Compares every inode the reader walks with the source tree on disk. */
async function compareWithTree(reader: SquashfsReader, root: string): Promise<number> {
  let n = 0;
  for await (const { path, inode } of reader.walk()) {
    n++;
    const st = await reader.stat(inode);
    const src = lstatSync(path === "" ? root : join(root, path));
    assert.equal(st.mode, src.mode, `mode of ${path}`);
    if (path !== "") {
      assert.equal(st.uid, src.uid, `uid of ${path}`);
      assert.equal(st.gid, src.gid, `gid of ${path}`);
      assert.equal(st.mtime, Math.floor(src.mtimeMs / 1000), `mtime of ${path}`);
    }
    if (st.kind !== "dir") assert.equal(st.nlink, src.nlink, `nlink of ${path}`);
    if (st.kind === "file") {
      assert.equal(st.size, src.size, `size of ${path}`);
      assert.equal(
        sha(await content(reader, inode)),
        sha(readFileSync(join(root, path))),
        `content of ${path}`,
      );
    }
    if (st.kind === "symlink") assert.equal(st.target, readlinkSync(join(root, path)));
    if (st.rdev)
      assert.deepEqual(st.rdev, {
        major: Math.floor(src.rdev / 256) & 0xfff,
        minor: (src.rdev & 0xff) | ((src.rdev >> 12) & 0xfff00),
      });
    const xattrs = new Map([...st.xattrs].map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
    assert.deepEqual(xattrs, expectedXattrs(path), `xattrs of ${path}`);
  }
  return n;
}

/** `unsquashfs -lln` lines keyed by path: "mode uid/gid size" — compared with our stat. */
function unsquashfsListing(image: string): Map<string, string> {
  const out = execFileSync("unsquashfs", ["-lln", "-d", "", image], { maxBuffer: 64 << 20 }).toString();
  const m = new Map<string, string>();
  for (const line of out.split("\n")) {
    const match = /^(\S+) (\d+)\/(\d+)\s+(\d+,\s*\d+|\d+) \S+ \S+ (.*)$/.exec(line);
    if (!match) continue;
    let path = match[5]!.replace(/ -> .*$/, "").replace(/^\//, "");
    if (path === "") path = "";
    m.set(path, `${match[1]} ${match[2]}/${match[3]} ${match[4]!.replace(/\s+/g, "")}`);
  }
  return m;
}

function lsMode(st: SquashfsStat): string {
  const t = {
    dir: "d",
    file: "-",
    symlink: "l",
    "block-device": "b",
    "char-device": "c",
    fifo: "p",
    socket: "s",
  }[st.kind];
  const m = st.mode;
  const r = (b: number, s: boolean, c: string) =>
    (b & 4 ? "r" : "-") + (b & 2 ? "w" : "-") + (s ? (b & 1 ? c : c.toUpperCase()) : b & 1 ? "x" : "-");
  return (
    t +
    r((m >> 6) & 7, (m & 0o4000) !== 0, "s") +
    r((m >> 3) & 7, (m & 0o2000) !== 0, "s") +
    r(m & 7, (m & 0o1000) !== 0, "t")
  );
}

for (const comp of ["gzip", "xz"] as const) {
  test(
    `mksquashfs ${comp} image: every inode matches the source tree and unsquashfs -lln`,
    { skip: !haveMksquashfs },
    async () => {
      const dir = tempDir();
      try {
        const root = join(dir, "root");
        mkdirSync(root);
        makeTree(root);
        const image = join(dir, "image.sqfs");
        execFileSync("mksquashfs", [root, image, "-noappend", "-quiet", "-no-progress", "-comp", comp]);
        const reader = await SquashfsReader.open(image);
        try {
          assert.equal(reader.compression, comp);
          const n = await compareWithTree(reader, root);
          assert.equal(n, reader.superblock.inodeCount + 1, "one hard link: one path more than inodes");
          // Listing of the 3000-entry directory, in strcmp order, spanning many metadata blocks.
          const many = await reader.readdir("many");
          assert.equal(many.length, 3000);
          assert.deepEqual(
            many.map((e) => e.name),
            [...many.map((e) => e.name)].sort(),
          );
          const listing = unsquashfsListing(image);
          for await (const { path, inode } of reader.walk()) {
            const st = await reader.stat(inode);
            // unsquashfs 4.5.1 prints minors above 255 wrongly (b 7,300 shows as "4103, 44"): the
            // kernel's new_encode_dev layout is checked against lstat in compareWithTree instead.
            if (st.rdev && st.rdev.minor > 255) continue;
            const size = st.rdev ? `${st.rdev.major},${st.rdev.minor}` : String(st.size);
            assert.equal(listing.get(path), `${lsMode(st)} ${st.uid}/${st.gid} ${size}`, path);
          }
          const summary = await verifySquashfs(reader);
          assert.equal(summary.inodes, reader.superblock.inodeCount);
          // Path lookup: "." and "..", no symlink following.
          assert.equal(
            (await reader.lookup("/etc/./deep/../hostname")).inodeNumber,
            (await reader.lookup("etc/hostname")).inodeNumber,
          );
          await assert.rejects(reader.lookup("symlink/x"), { code: "E_SQUASHFS_NOT_A_DIRECTORY" });
          await assert.rejects(reader.lookup("etc/missing"), { code: "E_SQUASHFS_NOT_FOUND" });
          await assert.rejects(content(reader, "etc"), { code: "E_SQUASHFS_IS_A_DIRECTORY" });
          await assert.rejects(content(reader, "symlink"), { code: "E_SQUASHFS_NOT_A_FILE" });
          assert.deepEqual(await reader.readdir("empty-dir"), []);
          // The export table maps inode numbers back to inodes.
          const host = await reader.lookup("etc/hostname");
          assert.equal((await reader.inodeByNumber(host.inodeNumber))?.inodeNumber, host.inodeNumber);
        } finally {
          await reader.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

test(
  "a 4 KiB-block xz image with -no-fragments and -always-use-fragments variants reads back",
  { skip: !haveMksquashfs },
  async () => {
    const dir = tempDir();
    try {
      const root = join(dir, "root");
      mkdirSync(root);
      writeFileSync(join(root, "a"), noise(20000, 9));
      writeFileSync(join(root, "b"), noise(100, 10));
      writeFileSync(join(root, "z"), Buffer.alloc(50000));
      for (const extra of [["-no-fragments"], ["-always-use-fragments"], ["-noD", "-noI", "-noF"]]) {
        const image = join(dir, `image${extra.join("")}.sqfs`);
        execFileSync("mksquashfs", [
          root,
          image,
          "-noappend",
          "-quiet",
          "-no-progress",
          "-comp",
          "xz",
          "-b",
          "4096",
          ...extra,
        ]);
        const reader = await SquashfsReader.open(image);
        try {
          assert.equal(reader.superblock.blockSize, 4096);
          await compareWithTree(reader, root);
          await verifySquashfs(reader);
        } finally {
          await reader.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("our writer's images read back entry for entry (gzip and xz)", async () => {
  const dir = tempDir();
  try {
    const big = noise(200_000, 5);
    const sparse = Buffer.concat([Buffer.alloc(131072 * 2), Buffer.from("end")]);
    const attrs = (mode: number, uid = 0, gid = 0) => ({ mode, uid, gid, mtime: 1_700_000_000 });
    const entries: Entry[] = [
      {
        type: "directory",
        path: "etc",
        attrs: { ...attrs(0o755), xattrs: new Map([["user.k", Buffer.from("v")]]) },
      },
      {
        type: "file",
        path: "etc/passwd",
        attrs: attrs(0o644, 1000, 1001),
        size: 5,
        content: Buffer.from("root\n"),
      },
      { type: "file", path: "big", attrs: attrs(0o600), size: big.length, content: big },
      { type: "file", path: "sparse", attrs: attrs(0o644), size: sparse.length, content: sparse },
      { type: "hardlink", path: "passwd-link", target: "etc/passwd" },
      { type: "symlink", path: "sh", attrs: attrs(0o777), target: "/bin/busybox" },
      { type: "char-device", path: "dev/null", attrs: attrs(0o666), major: 1, minor: 3 },
      { type: "fifo", path: "pipe", attrs: attrs(0o644) },
    ];
    for (let i = 0; i < 3000; i++)
      entries.push({
        type: "file",
        path: `many/f${i}`,
        attrs: attrs(0o644),
        size: 1,
        content: Buffer.from([i & 0xff]),
      });
    for (const compression of ["gzip", "xz"] as const) {
      const image = join(dir, `ours-${compression}.sqfs`);
      await writeSquashfs(entries, image, { compression, workers: 0 });
      const reader = await SquashfsReader.open(image);
      try {
        assert.equal(reader.compression, compression);
        const passwd = await reader.stat("etc/passwd");
        assert.deepEqual(
          [passwd.uid, passwd.gid, passwd.mode, passwd.nlink, passwd.mtime],
          [1000, 1001, 0o100644, 2, 1_700_000_000],
        );
        assert.equal((await reader.lookup("passwd-link")).inodeNumber, passwd.inodeNumber);
        assert.equal(sha(await content(reader, "big")), sha(big));
        assert.equal(sha(await content(reader, "sparse")), sha(sparse));
        assert.equal((await reader.stat("sh")).target, "/bin/busybox");
        assert.deepEqual((await reader.stat("dev/null")).rdev, { major: 1, minor: 3 });
        assert.equal((await reader.stat("pipe")).kind, "fifo");
        assert.equal(Buffer.from((await reader.stat("etc")).xattrs.get("user.k")!).toString(), "v");
        const many = await reader.readdir("many");
        assert.equal(many.length, 3000);
        assert.deepEqual([...(await content(reader, "many/f2999"))], [2999 & 0xff]);
        const summary = await verifySquashfs(reader);
        assert.equal(summary.inodes, reader.superblock.inodeCount);
      } finally {
        await reader.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("reads an image inside a byte range of a larger file (the .gvmi layout)", async () => {
  const dir = tempDir();
  try {
    const image = join(dir, "plain.sqfs");
    await writeSquashfs(
      [
        {
          type: "file",
          path: "x",
          attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 0 },
          size: 3,
          content: Buffer.from("abc"),
        },
      ],
      image,
      { workers: 0 },
    );
    const bytes = readFileSync(image);
    const wrapped = join(dir, "wrapped.bin");
    writeFileSync(wrapped, Buffer.concat([Buffer.alloc(1000, 0xee), bytes, Buffer.alloc(500, 0xdd)]));
    const reader = await SquashfsReader.open({ path: wrapped, offset: 1000, length: bytes.length });
    try {
      assert.equal((await content(reader, "x")).toString(), "abc");
    } finally {
      await reader.close();
    }
    await assert.rejects(SquashfsReader.open({ path: wrapped, offset: 1000, length: 10 ** 9 }), {
      code: "E_SQUASHFS_TRUNCATED",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Opens and fully reads `path`; resolves to the error code, or "ok". Anything untyped fails the test. */
async function readAll(path: string): Promise<string> {
  let reader: SquashfsReader | undefined;
  try {
    reader = await SquashfsReader.open(path);
    // verify reads every inode, xattr set, block and fragment.
    await verifySquashfs(reader);
    return "ok";
  } catch (err) {
    if (!(err instanceof GvmconvError)) throw err;
    return err.code;
  } finally {
    await reader?.close();
  }
}

async function sampleImage(dir: string, compression: "gzip" | "xz" = "gzip"): Promise<Buffer> {
  const image = join(dir, "sample.sqfs");
  const attrs = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
  const entries: Entry[] = [
    {
      type: "file",
      path: "a/b",
      attrs: { ...attrs, xattrs: new Map([["user.x", Buffer.from("y")]]) },
      size: 300_000,
      content: noise(300_000, 7),
    },
    { type: "file", path: "a/c", attrs, size: 10, content: Buffer.from("0123456789") },
    { type: "symlink", path: "l", attrs, target: "a/b" },
  ];
  for (let i = 0; i < 400; i++)
    entries.push({
      type: "file",
      path: `d/${i}`,
      attrs,
      size: 4,
      content: Buffer.from(String(i).padStart(4)),
    });
  await writeSquashfs(entries, image, { workers: 0, padding: 1, compression });
  return readFileSync(image);
}

test("corrupt superblocks and table pointers give typed errors", async () => {
  const dir = tempDir();
  try {
    const good = await sampleImage(dir);
    const path = join(dir, "bad.sqfs");
    const cases: [string, (b: Buffer) => void, string][] = [
      ["bad magic", (b) => b.writeUInt32LE(0x12345678, 0), "E_SQUASHFS_BAD_SUPERBLOCK"],
      ["version 3.1", (b) => b.writeUInt16LE(3, 28), "E_SQUASHFS_BAD_SUPERBLOCK"],
      [
        "block log 44 (1 << 44 wraps to 4096)",
        (b) => {
          b.writeUInt32LE(4096, 12);
          b.writeUInt16LE(44, 22);
        },
        "E_SQUASHFS_BAD_SUPERBLOCK",
      ],
      ["block log disagrees", (b) => b.writeUInt16LE(16, 22), "E_SQUASHFS_BAD_SUPERBLOCK"],
      ["zstd compression", (b) => b.writeUInt16LE(6, 20), "E_SQUASHFS_COMPRESSION_UNSUPPORTED"],
      ["lzma compression", (b) => b.writeUInt16LE(2, 20), "E_SQUASHFS_COMPRESSION_UNSUPPORTED"],
      ["compression id 99", (b) => b.writeUInt16LE(99, 20), "E_SQUASHFS_COMPRESSION_UNSUPPORTED"],
      [
        "bytes_used past the end",
        (b) => b.writeBigUInt64LE(BigInt(b.length + 1), 40),
        "E_SQUASHFS_TRUNCATED",
      ],
      [
        "inode table after directory table",
        (b) => b.writeBigUInt64LE(b.readBigUInt64LE(72) + 1n, 64),
        "E_SQUASHFS_BAD_SUPERBLOCK",
      ],
      [
        "id table past bytes_used",
        (b) => b.writeBigUInt64LE(BigInt(b.length + 100), 48),
        "E_SQUASHFS_BAD_SUPERBLOCK",
      ],
      [
        "id table start all ones",
        (b) => b.writeBigUInt64LE(0xffffffffffffffffn, 48),
        "E_SQUASHFS_BAD_SUPERBLOCK",
      ],
      ["huge fragment count", (b) => b.writeUInt32LE(0xffffffff, 16), "E_SQUASHFS_IMAGE_CORRUPT"],
      ["huge inode count", (b) => b.writeUInt32LE(0xffffffff, 4), "E_SQUASHFS_IMAGE_CORRUPT"],
      [
        "root ref outside the inode table",
        (b) => b.writeBigUInt64LE(0xffff_0000n, 32),
        "E_SQUASHFS_BAD_SUPERBLOCK",
      ],
      [
        "id table pointer list points backwards",
        (b) => b.writeBigUInt64LE(5n, Number(b.readBigUInt64LE(48))),
        "E_SQUASHFS_IMAGE_CORRUPT",
      ],
    ];
    for (const [name, corrupt, code] of cases) {
      const b = Buffer.from(good);
      corrupt(b);
      writeFileSync(path, b);
      assert.equal(await readAll(path), code, name);
    }
    for (const size of [0, 10, 95, 96, 200, Math.floor(good.length / 2), good.length - 1]) {
      writeFileSync(path, good.subarray(0, size));
      const code = await readAll(path);
      assert.ok(
        ["E_SQUASHFS_BAD_SUPERBLOCK", "E_SQUASHFS_TRUNCATED"].includes(code),
        `truncated to ${size}: ${code}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [compression, rounds] of [
  ["gzip", 150],
  ["xz", 60],
] as const) {
  test(`random byte flips anywhere in a ${compression} image never crash, hang or throw untyped errors`, async () => {
    const dir = tempDir();
    try {
      const good = await sampleImage(dir, compression);
      const path = join(dir, "fuzz.sqfs");
      const rand = noise(4 * rounds, 42);
      const codes = new Set<string>();
      for (let i = 0; i < rounds; i++) {
        const b = Buffer.from(good);
        const at = rand.readUInt32LE(i * 4) % b.length;
        b[at] = b[at]! ^ (1 << (i % 8));
        writeFileSync(path, b);
        codes.add(await readAll(path));
      }
      // Flips in data blocks are caught by decompression or the size check; most flips are caught.
      assert.ok(codes.size > 1, [...codes].join(","));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("flipping bytes in each metadata table gives a typed error", async () => {
  const dir = tempDir();
  try {
    const good = await sampleImage(dir);
    const path = join(dir, "table.sqfs");
    const inodeStart = Number(good.readBigUInt64LE(64));
    const dirStart = Number(good.readBigUInt64LE(72));
    for (const at of [inodeStart, inodeStart + 1, dirStart, dirStart + 1, dirStart + 20]) {
      const b = Buffer.from(good);
      b[at] = b[at]! ^ 0xff;
      writeFileSync(path, b);
      const code = await readAll(path);
      assert.notEqual(code, "ok", `flip at ${at}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an image copied into place reads the same as the original (no state in the file handle)", async () => {
  const dir = tempDir();
  try {
    await sampleImage(dir);
    copyFileSync(join(dir, "sample.sqfs"), join(dir, "copy.sqfs"));
    assert.equal(await readAll(join(dir, "copy.sqfs")), "ok");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
