/**
 * Integration tests of the SquashFS writer: every image is read back by the real tools
 * (unsquashfs, squashfs-tools-ng's sqfsdiff against an image mksquashfs builds from the same
 * tree on disk) and, where loop mounts work (root), by the Linux kernel itself — the only
 * reader that uses the directory index.
 */
import { test, before, after } from "node:test";
import { prng } from "../../support/prng.js";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SquashfsWriter, writeSquashfs, type WriteResult } from "../../../src/squashfs/writer/writer.js";
import type { Entry, EntryAttrs } from "../../../src/squashfs/entry.js";
import type { CompressionName } from "../../../src/squashfs/options.js";
import { decodeSuperblock, SuperblockFlags } from "../../../src/squashfs/format/superblock.js";
import {
  SquashfsHardlinkTargetMissingError,
  SquashfsHardlinkToDirectoryError,
  SquashfsNameTooLongError,
  SquashfsTooManyIdsError,
} from "../../../src/squashfs/errors.js";
import { GvmconvError } from "../../../src/errors.js";

const enc = new TextEncoder();
let work = "";
before(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "gvmconv-sqfs-"));
});
after(async () => {
  if (process.env.GVMCONV_KEEP_TEST_DIR === undefined) await fsp.rm(work, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;

/** One node of a test tree, written both to disk (for mksquashfs) and as writer entries. */
type Spec =
  | { type: "directory"; path: string; attrs: EntryAttrs; implicit?: boolean }
  | {
      type: "file";
      path: string;
      attrs: EntryAttrs;
      size: number;
      data: (offset: number, len: number) => Uint8Array;
      chunks?: number;
    }
  | { type: "symlink"; path: string; attrs: EntryAttrs; target: string }
  | { type: "hardlink"; path: string; target: string }
  | { type: "char-device" | "block-device"; path: string; attrs: EntryAttrs; major: number; minor: number }
  | { type: "fifo" | "socket"; path: string; attrs: EntryAttrs };

const attrs = (mode: number, over: Partial<EntryAttrs> = {}): EntryAttrs => ({
  mode,
  uid: 0,
  gid: 0,
  mtime: 1_600_000_000,
  ...over,
});
const bytesOf = (b: Uint8Array) => (off: number, len: number) => b.subarray(off, off + len);

function toEntry(s: Spec): Entry {
  if (s.type === "file") {
    const { size, data, chunks } = s;
    const content =
      chunks === undefined
        ? data(0, size)
        : (async function* () {
            const step = Math.max(1, Math.ceil(size / chunks));
            for (let o = 0; o < size; o += step) yield data(o, Math.min(step, size - o));
          })();
    return { type: "file", path: s.path, attrs: s.attrs, size, content };
  }
  if (s.type === "directory") return { type: "directory", path: s.path, attrs: s.attrs };
  return s as Entry;
}

/** Writes the tree to `dir` the way the image should look (implicit dirs: 0755 root, mtime 0). */
async function materialize(specs: readonly Spec[], dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const dirs = new Map<string, EntryAttrs>();
  const ensureParents = async (path: string): Promise<void> => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (!dirs.has(p)) dirs.set(p, attrs(0o755, { mtime: 0 }));
      await fsp.mkdir(join(dir, p), { recursive: true });
    }
  };
  const xattrs = async (p: string, a: EntryAttrs) => {
    for (const [k, v] of a.xattrs ?? [])
      execFileSync("setfattr", ["-h", "-n", k, "-v", "0x" + Buffer.from(v).toString("hex"), p]);
  };
  const own = async (p: string, a: EntryAttrs, link = false) => {
    if (link) await fsp.lchown(p, a.uid, a.gid);
    else {
      await fsp.chown(p, a.uid, a.gid);
      await fsp.chmod(p, a.mode); // after chown, which clears setuid/setgid
    }
    await xattrs(p, a);
  };
  for (const s of specs) {
    if (s.path === "") {
      if (s.type === "directory") dirs.set("", s.attrs);
      continue;
    }
    await ensureParents(s.path);
    const p = join(dir, s.path);
    switch (s.type) {
      case "directory":
        await fsp.mkdir(p, { recursive: true });
        if (!s.implicit) dirs.set(s.path, s.attrs);
        break;
      case "file": {
        const fh = await fsp.open(p, "w");
        // Write only non-zero ranges so sparse sources stay sparse on disk too.
        const step = 1 << 20;
        for (let o = 0; o < s.size; o += step) {
          const b = s.data(o, Math.min(step, s.size - o));
          if (b.some((x) => x !== 0)) await fh.write(b, 0, b.length, o);
        }
        await fh.truncate(s.size);
        await fh.close();
        await own(p, s.attrs);
        await fsp.utimes(p, s.attrs.mtime, s.attrs.mtime);
        break;
      }
      case "symlink":
        await fsp.symlink(s.target, p);
        await own(p, s.attrs, true);
        await fsp.lutimes(p, s.attrs.mtime, s.attrs.mtime);
        break;
      case "hardlink":
        await fsp.link(join(dir, s.target), p);
        break;
      case "char-device":
      case "block-device":
        execFileSync("mknod", [p, s.type === "char-device" ? "c" : "b", String(s.major), String(s.minor)]);
        await own(p, s.attrs);
        await fsp.utimes(p, s.attrs.mtime, s.attrs.mtime);
        break;
      case "fifo":
        execFileSync("mkfifo", [p]);
        await own(p, s.attrs);
        await fsp.utimes(p, s.attrs.mtime, s.attrs.mtime);
        break;
      case "socket":
        execFileSync("python3", [
          "-c",
          "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
          p,
        ]);
        await own(p, s.attrs);
        await fsp.utimes(p, s.attrs.mtime, s.attrs.mtime);
        break;
    }
  }
  if (!dirs.has("")) dirs.set("", attrs(0o755, { mtime: 0 }));
  // Directory attributes last, deepest first, so creating children does not touch their mtime.
  for (const [path, a] of [...dirs].sort((x, y) => y[0].split("/").length - x[0].split("/").length)) {
    const p = path === "" ? dir : join(dir, path);
    await own(p, a);
    await fsp.utimes(p, a.mtime, a.mtime);
  }
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function build(
  specs: readonly Spec[],
  name: string,
  compression: CompressionName,
  order = (e: Spec[]) => e,
): Promise<{ image: string; result: WriteResult }> {
  const image = join(work, `${name}.sqfs`);
  const result = await writeSquashfs(order([...specs]).map(toEntry), image, {
    compression,
    workers: 2,
    mkfsTime: 1_700_000_000,
    implicitDirMtime: 0,
  });
  return { image, result };
}

/** Builds our image and mksquashfs's from the same tree, and has sqfsdiff compare them fully. */
async function checkAgainstMksquashfs(
  specs: readonly Spec[],
  name: string,
  compression: CompressionName,
  order?: (e: Spec[]) => Spec[],
) {
  const src = join(work, `${name}-src`);
  await materialize(specs, src);
  const { image, result } = await build(specs, name, compression, order);
  const ref = join(work, `${name}-ref.sqfs`);
  run("mksquashfs", [
    src,
    ref,
    "-noappend",
    "-no-progress",
    "-quiet",
    "-comp",
    compression,
    "-processors",
    "2",
  ]);
  // Contents, owners, permissions, timestamps (and xattrs, which sqfsdiff always compares).
  // mksquashfs uses an extended file inode for some files that need none (e.g. duplicates of
  // all-zero files); basic vs extended is a packing choice, so only that report is tolerated.
  const diff = spawnSync("sqfsdiff", ["-T", "-a", ref, "-b", image], { encoding: "utf8" });
  const real = diff.stdout.split("\n").filter((l) => l !== "" && !/ has a basic type$/.test(l));
  assert.ok(
    diff.status === 0 || (diff.status === 1 && real.length === 0),
    `sqfsdiff found differences:\n${diff.stdout}${diff.stderr}`,
  );
  const usq = spawnSync("unsquashfs", ["-stat", image], { encoding: "utf8" });
  assert.equal(usq.status, 0, usq.stderr);
  return { src, image, ref, result };
}

/** lstat-level description of every path under `root` (hard links grouped by inode). */
async function describe(root: string, withContent = true): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const groups = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const p = rel === "" ? root : join(root, rel);
    const st = await fsp.lstat(p, { bigint: true });
    const key = `${st.dev}:${st.ino}`;
    let desc = `mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} mtime=${st.mtimeMs / 1000n}`;
    if (st.isDirectory()) {
      desc += ` nlink=${st.nlink}`;
      out.set(rel, desc);
      for (const name of (await fsp.readdir(p)).sort()) await walk(rel === "" ? name : `${rel}/${name}`);
      return;
    }
    const first = groups.get(key);
    if (first === undefined) groups.set(key, rel);
    desc += ` nlink=${st.nlink} link-group=${first ?? rel}`;
    if (st.isSymbolicLink()) desc += ` -> ${await fsp.readlink(p)}`;
    else if (st.isCharacterDevice() || st.isBlockDevice()) desc += ` rdev=${st.rdev}`;
    else if (st.isFile()) {
      desc += ` size=${st.size}`;
      if (withContent)
        desc += ` sha=${createHash("sha256")
          .update(await fsp.readFile(p))
          .digest("hex")}`;
    }
    out.set(rel, desc);
  };
  await walk("");
  return out;
}

function xattrDump(root: string): string {
  const r = spawnSync("getfattr", ["-R", "-P", "-d", "-m", "-", "-e", "hex", "--absolute-names", root], {
    encoding: "utf8",
  });
  // One record per file; sorted, since getfattr walks in readdir order.
  return r.stdout
    .split(root)
    .join("<root>")
    .split("\n\n")
    .map((rec) => rec.trim())
    .filter((rec) => rec !== "")
    .sort()
    .join("\n\n");
}

/** Mounts `image` with the kernel (root only); null when loop mounts are not possible here. */
async function withMount<T>(image: string, fn: (dir: string) => Promise<T>): Promise<T | null> {
  if (!isRoot) return null;
  const dir = await fsp.mkdtemp(join(work, "mnt-"));
  const m = spawnSync("mount", ["-t", "squashfs", "-o", "loop,ro", image, dir], { encoding: "utf8" });
  if (m.status !== 0) return null;
  try {
    return await fn(dir);
  } finally {
    run("umount", [dir]);
  }
}

async function extractAndCompare(src: string, image: string): Promise<void> {
  const dest = join(work, `x-${Math.random().toString(36).slice(2)}`);
  run("unsquashfs", ["-q", "-n", "-d", dest, image]);
  assert.deepEqual(await describe(dest), await describe(src));
  assert.equal(xattrDump(dest), xattrDump(src));
  await fsp.rm(dest, { recursive: true });
}

function pseudoBytes(seed: number, size: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(size);
  // Half random, half repetitive: some blocks compress, some do not.
  for (let i = 0; i < size; i++) b[i] = i % 2048 < 1024 ? (r() * 256) | 0 : i & 7;
  return b;
}

const CAP = new Uint8Array(Buffer.from("0100000200200000000000000000000000000000", "hex"));

function edgeTree(): Spec[] {
  const bs = 131072;
  const long255 = "n".repeat(250) + "é".repeat(2) + "x"; // 255 bytes
  const deep = Array.from({ length: 100 }, (_, i) => `d${i}`).join("/");
  const one = pseudoBytes(1, bs);
  const over = pseudoBytes(2, bs + 1);
  const dup = pseudoBytes(3, 300_000);
  return [
    { type: "directory", path: "", attrs: attrs(0o755, { mtime: 1_650_000_000 }) },
    { type: "directory", path: "empty", attrs: attrs(0o700, { uid: 5, gid: 6 }) },
    { type: "directory", path: "tmp", attrs: attrs(0o1777) },
    { type: "directory", path: "sgid", attrs: attrs(0o2775, { gid: 50 }) },
    { type: "file", path: "empty-file", attrs: attrs(0o644), size: 0, data: bytesOf(new Uint8Array(0)) },
    { type: "file", path: "one-block", attrs: attrs(0o644), size: bs, data: bytesOf(one), chunks: 7 },
    {
      type: "file",
      path: "one-block-plus-1",
      attrs: attrs(0o600, { uid: 1000, gid: 1000 }),
      size: bs + 1,
      data: bytesOf(over),
      chunks: 3,
    },
    { type: "file", path: "bin/su", attrs: attrs(0o4755), size: 6, data: bytesOf(enc.encode("su...\n")) },
    {
      type: "file",
      path: "bin/ping",
      attrs: attrs(0o755, { xattrs: new Map([["security.capability", CAP]]) }),
      size: 5,
      data: bytesOf(enc.encode("ping\n")),
    },
    { type: "file", path: "dup/a", attrs: attrs(0o644), size: dup.length, data: bytesOf(dup), chunks: 10 },
    { type: "file", path: "dup/b", attrs: attrs(0o640, { uid: 7 }), size: dup.length, data: bytesOf(dup) },
    { type: "file", path: "dup/small-a", attrs: attrs(0o644), size: 5, data: bytesOf(enc.encode("tiny\n")) },
    { type: "file", path: "dup/small-b", attrs: attrs(0o644), size: 5, data: bytesOf(enc.encode("tiny\n")) },
    { type: "hardlink", path: "dup/link-to-a", target: "dup/a" },
    { type: "hardlink", path: "bin/ping-again", target: "bin/ping" },
    { type: "symlink", path: "bin/sh", attrs: attrs(0o777), target: "/bin/busybox" },
    {
      type: "symlink",
      path: "dangling",
      attrs: attrs(0o777, { uid: 3 }),
      target: "nowhere/" + "x".repeat(300),
    },
    { type: "char-device", path: "dev/null", attrs: attrs(0o666), major: 1, minor: 3 },
    { type: "block-device", path: "dev/big", attrs: attrs(0o660, { gid: 6 }), major: 259, minor: 0x12345 },
    { type: "fifo", path: "run/fifo", attrs: attrs(0o622) },
    { type: "socket", path: "run/sock", attrs: attrs(0o755) },
    {
      type: "file",
      path: "utf8/ünïcödé-名前-🙂",
      attrs: attrs(0o644, {
        xattrs: new Map([
          ["user.comment", enc.encode("hi")],
          ["trusted.x", new Uint8Array([0, 1, 2])],
        ]),
      }),
      size: 3,
      data: bytesOf(enc.encode("ok\n")),
    },
    { type: "file", path: `utf8/${long255}`, attrs: attrs(0o644), size: 1, data: bytesOf(enc.encode("a")) },
    {
      type: "directory",
      path: "xattr-dir",
      attrs: attrs(0o755, { xattrs: new Map([["user.dir", enc.encode("yes")]]) }),
    },
    {
      type: "file",
      path: `${deep}/bottom`,
      attrs: attrs(0o644),
      size: 7,
      data: bytesOf(enc.encode("bottom\n")),
    },
  ];
}

for (const compression of ["gzip", "xz"] as const) {
  test(`edge cases (${compression}): sqfsdiff equal to mksquashfs, extraction equal to the source, kernel mount equal`, async () => {
    const specs = edgeTree();
    const { src, image, result } = await checkAgainstMksquashfs(
      specs,
      `edge-${compression}`,
      compression,
      (e) => e.reverse(),
    );
    assert.equal(result.deduplicatedFiles, 2, "dup/b and dup/small-b are stored once");
    assert.equal(result.files, 12);
    const sb = decodeSuperblock(await readHead(image));
    assert.equal(sb.modificationTime, 1_700_000_000);
    assert.equal(sb.flags & SuperblockFlags.NO_XATTRS, 0);
    assert.equal(sb.inodeCount, result.inodeCount);
    assert.equal((await fsp.stat(image)).size, result.imageSize);
    assert.equal(result.imageSize % 4096, 0);
    await extractAndCompare(src, image);
    await withMount(image, async (mnt) => {
      assert.deepEqual(await describe(mnt), await describe(src));
      assert.equal(xattrDump(mnt), xattrDump(src));
    });
  });
}

async function readHead(image: string): Promise<Uint8Array> {
  const fh = await fsp.open(image, "r");
  try {
    const b = new Uint8Array(96);
    await fh.read(b, 0, 96, 0);
    return b;
  } finally {
    await fh.close();
  }
}

function randomTree(seed: number, count: number): Spec[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const syllables = ["a", "b", "zz", "é", "名", "-", "_", "Q", "0", "🙂", "longer-name"];
  const name = () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(syllables)).join("");
  const dirs = [""];
  const files: string[] = [];
  const used = new Set<string>([""]);
  const specs: Spec[] = [{ type: "directory", path: "", attrs: attrs(0o755) }];
  const blobs = [0, 1, 100, 4096, 131071, 131072, 131073, 200_000, 400_000].map((n, i) =>
    pseudoBytes(seed * 100 + i, n),
  );
  // user.* xattrs only exist on regular files and directories (Linux xattr(7)).
  const randAttrs = (mode: number, xattrsOk = false) =>
    attrs(mode, {
      uid: pick([0, 0, 1, 1000, 65534, 100000]),
      gid: pick([0, 0, 50, 1000]),
      mtime: Math.floor(r() * 2 ** 31),
      xattrs:
        xattrsOk && r() < 0.1 ? new Map([[`user.k${Math.floor(r() * 3)}`, enc.encode(name())]]) : undefined,
    });
  while (specs.length < count) {
    const parent = pick(dirs);
    const path = (parent === "" ? "" : parent + "/") + name();
    if (used.has(path)) continue;
    used.add(path);
    const kind = r();
    if (kind < 0.2) {
      dirs.push(path);
      specs.push({
        type: "directory",
        path,
        attrs: randAttrs(pick([0o755, 0o700, 0o1777, 0o2755]), true),
        implicit: false,
      });
    } else if (kind < 0.75) {
      const blob = pick(blobs);
      files.push(path);
      specs.push({
        type: "file",
        path,
        attrs: randAttrs(pick([0o644, 0o755, 0o4755, 0o600, 0o2711]), true),
        size: blob.length,
        data: bytesOf(blob),
        chunks: 1 + Math.floor(r() * 5),
      });
    } else if (kind < 0.85) {
      specs.push({ type: "symlink", path, attrs: randAttrs(0o777), target: name() + "/" + name() });
    } else if (kind < 0.93 && files.length > 0) {
      specs.push({ type: "hardlink", path, target: pick(files) });
    } else {
      specs.push({ type: "fifo", path, attrs: randAttrs(0o644) });
    }
  }
  return specs;
}

/** A seeded shuffle that keeps hard links after their targets (the disk copy is made in order). */
function shuffler(seed: number) {
  return (specs: Spec[]): Spec[] => {
    const r = prng(seed);
    for (let i = specs.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [specs[i], specs[j]] = [specs[j]!, specs[i]!];
    }
    return specs;
  };
}

for (const [seed, compression] of [
  [11, "gzip"],
  [12, "xz"],
  [13, "gzip"],
] as const) {
  test(`randomized tree seed ${seed} (${compression}), entries shuffled: equal to mksquashfs and to the source`, async () => {
    const specs = randomTree(seed, 400);
    const { src, image } = await checkAgainstMksquashfs(specs, `rand-${seed}`, compression, shuffler(seed));
    await extractAndCompare(src, image);
    await withMount(image, async (mnt) => assert.deepEqual(await describe(mnt), await describe(src)));
  });
}

test("deterministic: same entries give the same bytes with any worker count; another order the same tree and inode numbers", async () => {
  const specs = randomTree(21, 300);
  const hash = async (p: string) =>
    createHash("sha256")
      .update(await fsp.readFile(p))
      .digest("hex");
  const images: string[] = [];
  for (const workers of [0, 1, 3]) {
    const image = join(work, `det-${workers}.sqfs`);
    await writeSquashfs(specs.map(toEntry), image, { workers, mkfsTime: 5 });
    images.push(await hash(image));
  }
  assert.equal(new Set(images).size, 1);
  const a = await build(specs, "order-a", "gzip");
  // Data lands in arrival order, so the bytes differ; the tree, attributes and inode numbers do not.
  const b = await build(specs, "order-b", "gzip", (e) => [e[0]!, ...e.slice(1).reverse()]);
  const diff = spawnSync("sqfsdiff", ["-T", "-I", "-a", a.image, "-b", b.image], { encoding: "utf8" });
  assert.equal(diff.status, 0, diff.stdout + diff.stderr);
});

test("10,000 entries in one directory: every name found by the kernel's indexed lookup", async () => {
  const specs: Spec[] = [{ type: "directory", path: "", attrs: attrs(0o755) }];
  for (let i = 0; i < 10_000; i++) {
    const p = `big/${i % 3 === 0 ? "é" : ""}file-${String((i * 7919) % 10_000).padStart(5, "0")}-${"x".repeat(i % 40)}`;
    specs.push(
      i % 10 === 0
        ? { type: "directory", path: p, attrs: attrs(0o755) }
        : { type: "file", path: p, attrs: attrs(0o644), size: i % 5, data: bytesOf(pseudoBytes(i, i % 5)) },
    );
  }
  const { src, image } = await checkAgainstMksquashfs(specs, "wide", "gzip");
  const listed = run("unsquashfs", ["-lln", image]).trim().split("\n");
  assert.equal(listed.length, 10_002);
  await withMount(image, async (mnt) => {
    // stat by name goes through squashfs_lookup and the directory index, not readdir.
    for (const s of specs.slice(1)) await fsp.lstat(join(mnt, s.path));
    await assert.rejects(fsp.lstat(join(mnt, "big/file-zzzz")), { code: "ENOENT" });
    await assert.rejects(fsp.lstat(join(mnt, "big/a")), { code: "ENOENT" });
    assert.deepEqual(
      (await fsp.readdir(join(mnt, "big"))).sort(),
      (await fsp.readdir(join(src, "big"))).sort(),
    );
    assert.equal((await fsp.stat(join(mnt, "big"))).nlink, 2 + 1000);
  });
});

test("a 64 MiB file of zeros with a little data is stored sparse and comes out sparse", async () => {
  const size = 64 << 20;
  const marks = new Map([
    [5 << 20, enc.encode("hello")],
    [size - 3, enc.encode("end")],
  ]);
  const data = (off: number, len: number) => {
    const b = new Uint8Array(len);
    for (const [at, m] of marks)
      for (let i = 0; i < m.length; i++) if (at + i >= off && at + i < off + len) b[at + i - off] = m[i]!;
    return b;
  };
  const specs: Spec[] = [{ type: "file", path: "sparse", attrs: attrs(0o644), size, data, chunks: 64 }];
  const { src, image, result } = await checkAgainstMksquashfs(specs, "sparse", "gzip");
  assert.ok(result.bytesUsed < 64 * 1024, `image is ${result.bytesUsed} bytes`);
  const dest = join(work, "sparse-x");
  run("unsquashfs", ["-q", "-n", "-d", dest, image]);
  const st = await fsp.stat(join(dest, "sparse"));
  assert.equal(st.size, size);
  assert.ok(st.blocks * 512 < 4 << 20, `extracted file uses ${st.blocks * 512} bytes on disk`);
  assert.deepEqual(await describe(dest), await describe(src));
  await withMount(image, async (mnt) => assert.deepEqual(await describe(mnt), await describe(src)));
});

async function assertFailsCleanly(
  entries: Entry[],
  name: string,
  check: (e: unknown) => boolean,
): Promise<void> {
  const image = join(work, `${name}.sqfs`);
  await assert.rejects(
    writeSquashfs(entries, image, { workers: 0 }),
    (e: unknown) => e instanceof GvmconvError && check(e),
  );
  assert.equal(existsSync(image), false, "no partial image is left behind");
}

test("a name over 256 bytes is a typed error and leaves no image", async () => {
  await assertFailsCleanly(
    [
      {
        type: "file",
        path: "dir/" + "é".repeat(128) + "x",
        attrs: attrs(0o644),
        size: 1,
        content: enc.encode("a"),
      },
    ],
    "long-name",
    (e) => e instanceof SquashfsNameTooLongError && e.code === "E_SQUASHFS_NAME_TOO_LONG",
  );
});

test("more than 65535 distinct uid/gid values is a typed error and leaves no image", async () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 32_769; i++)
    entries.push({ type: "fifo", path: `f${i}`, attrs: attrs(0o644, { uid: 2 * i + 1, gid: 2 * i + 2 }) });
  await assertFailsCleanly(
    entries,
    "many-ids",
    (e) => e instanceof SquashfsTooManyIdsError && e.code === "E_SQUASHFS_TOO_MANY_IDS",
  );
});

test("hard links to a missing target or to a directory are typed errors", async () => {
  await assertFailsCleanly(
    [{ type: "hardlink", path: "a", target: "missing" }],
    "hl-missing",
    (e) => e instanceof SquashfsHardlinkTargetMissingError,
  );
  await assertFailsCleanly(
    [
      { type: "directory", path: "d", attrs: attrs(0o755) },
      { type: "hardlink", path: "a", target: "d" },
    ],
    "hl-dir",
    (e) => e instanceof SquashfsHardlinkToDirectoryError && e.code === "E_SQUASHFS_HARDLINK_TO_DIRECTORY",
  );
  // A link whose target is replaced later by another file links to the new file (final tree).
  const image = join(work, "hl-final.sqfs");
  await writeSquashfs(
    [
      { type: "file", path: "t", attrs: attrs(0o644), size: 3, content: enc.encode("old") },
      { type: "hardlink", path: "l", target: "t" },
      { type: "file", path: "t", attrs: attrs(0o600), size: 3, content: enc.encode("new") },
    ],
    image,
    { workers: 0 },
  );
  const dest = join(work, "hl-final-x");
  run("unsquashfs", ["-q", "-n", "-d", dest, image]);
  assert.equal(await fsp.readFile(join(dest, "l"), "utf8"), "new");
  assert.equal((await fsp.stat(join(dest, "l"))).ino, (await fsp.stat(join(dest, "t"))).ino);
});

test("abort() deletes the partial output; a writer cannot be used after finish()", async () => {
  const image = join(work, "aborted.sqfs");
  const w = await SquashfsWriter.create(image, { workers: 0 });
  await w.add({ type: "file", path: "f", attrs: attrs(0o644), size: 3, content: enc.encode("abc") });
  await w.abort();
  assert.equal(existsSync(image), false);
  const image2 = join(work, "finished.sqfs");
  const w2 = await SquashfsWriter.create(image2, { workers: 0, exportTable: false });
  const r = await w2.finish();
  assert.equal(r.inodeCount, 1);
  assert.equal(r.dirs, 1);
  await assert.rejects(w2.add({ type: "fifo", path: "x", attrs: attrs(0o644) }), {
    code: "E_SQUASHFS_WRITER_STATE",
  });
  const sb = decodeSuperblock(await readHead(image2));
  assert.equal(sb.exportTableStart, null);
  assert.equal(sb.flags & SuperblockFlags.EXPORTABLE, 0);
  assert.equal(sb.flags & SuperblockFlags.NO_XATTRS, SuperblockFlags.NO_XATTRS);
  assert.equal(sb.xattrIdTableStart, null);
  run("unsquashfs", ["-lln", image2]);
  await withMount(image2, async (mnt) => assert.deepEqual(await fsp.readdir(mnt), []));
});

test("the writer never reads SOURCE_DATE_EPOCH: mkfs time is the option or 0", async () => {
  const saved = process.env.SOURCE_DATE_EPOCH;
  process.env.SOURCE_DATE_EPOCH = "1234567890";
  try {
    const entries: Entry[] = [
      { type: "directory", path: "d", attrs: { mode: 0o755, uid: 0, gid: 0, mtime: 3 } },
    ];
    const image = join(work, "epoch.sqfs");
    await writeSquashfs(entries, image, { workers: 0 });
    assert.equal(decodeSuperblock(await readHead(image)).modificationTime, 0);
    await writeSquashfs(entries, image, { workers: 0, mkfsTime: 42 });
    assert.equal(decodeSuperblock(await readHead(image)).modificationTime, 42);
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  }
});

test("xzBackend reaches the worker threads: both backends write the same image", async () => {
  const r = prng(8);
  const contents = [0, 1, 2].map(() =>
    Uint8Array.from({ length: 300_000 }, (_, j) => (j % 7 === 0 ? Math.floor(r() * 256) : j % 13)),
  );
  const entries = (): Entry[] =>
    contents.map((content, i) => ({
      type: "file",
      path: `f${i}`,
      attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 0 },
      size: content.length,
      content,
    }));
  const hashes: string[] = [];
  for (const xzBackend of ["liblzma", "lzma-native"] as const) {
    const image = join(work, `xz-${xzBackend}.sqfs`);
    await writeSquashfs(entries(), image, { compression: "xz", workers: 2, xzBackend });
    hashes.push(
      createHash("sha256")
        .update(await fsp.readFile(image))
        .digest("hex"),
    );
  }
  assert.equal(hashes[0], hashes[1]);
});
