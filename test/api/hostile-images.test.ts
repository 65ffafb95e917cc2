/**
 * Hostile and padded SquashFS images against the four image-file use cases (inspect, ls -R,
 * verify, cat). Hostile images are real mksquashfs output with uncompressed metadata (-noI -noD),
 * so a directory entry or inode can be patched in place: entries pointing back at the root or at
 * their own directory (loops), references outside the inode table, inode numbers out of range,
 * and a directory size far larger than its listing. Each must stop with one coded error, quickly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspectImage, listImage, readImageFile, verifyImage } from "../../src/index.js";
import { GvmconvError } from "../../src/errors.js";
import { SquashfsReader } from "../../src/squashfs/index.js";
import { appendTrailer, type ContainerConfig } from "../../src/gvmi/index.js";
import { run } from "../cli/image-fixture.js";

const haveMksquashfs = spawnSync("mksquashfs", ["-version"]).status !== null;
const haveUnsquashfs = spawnSync("unsquashfs", ["-help"]).status !== null;

/** Generous: a bounded failure takes milliseconds; a loop would never end. */
const TIME_LIMIT_MS = 5000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "gvmconv-hostile-"));
}

/** root/{a/{loop/}, z.txt}: `loop` is the only entry of `a`, so its run header is its own. */
function goodImage(dir: string): string {
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "a/loop"), { recursive: true });
  writeFileSync(join(tree, "z.txt"), "zzz\n");
  const image = join(dir, "good.sqfs");
  execFileSync("mksquashfs", [
    tree,
    image,
    "-noI",
    "-noD",
    "-noF",
    "-noX",
    "-no-xattrs",
    "-all-root",
    "-mkfs-time",
    "0",
    "-all-time",
    "0",
    "-quiet",
    "-no-progress",
  ]);
  return image;
}

interface Layout {
  inodeTableStart: number;
  rootRef: { block: number; offset: number };
  rootNumber: number;
  aRef: { block: number; offset: number };
  aNumber: number;
  /** File position of the run header before the entry "loop" in a's listing. */
  loopHeader: number;
  /** File position of the entry "loop" (its fixed 8 bytes). */
  loopEntry: number;
}

async function layout(image: string): Promise<Layout> {
  const reader = await SquashfsReader.open(image);
  try {
    const sb = reader.superblock;
    const root = await reader.root();
    const a = (await reader.readdir(root)).find((e) => e.name === "a")!;
    const bytes = readFileSync(image);
    const name = Buffer.from("loop");
    const at = bytes.indexOf(name, sb.directoryTableStart);
    assert.ok(at > 0 && bytes.indexOf(name, at + 1) < 0, "one 'loop' name in the directory table");
    const rootRef = { block: Math.floor(sb.rootInodeRef / 0x10000), offset: sb.rootInodeRef % 0x10000 };
    return {
      inodeTableStart: sb.inodeTableStart,
      rootRef,
      rootNumber: root.inodeNumber,
      aRef: a.inodeRef,
      aNumber: a.inodeNumber,
      loopEntry: at - 8,
      loopHeader: at - 8 - 12,
    };
  } finally {
    await reader.close();
  }
}

type Patch = (bytes: Buffer, l: Layout) => void;

/** Points the entry "loop" at inode `number` found at `ref`. */
function pointLoopAt(bytes: Buffer, l: Layout, ref: { block: number; offset: number }, number: number): void {
  bytes.writeUInt32LE(ref.block, l.loopHeader + 4);
  bytes.writeUInt32LE(number, l.loopHeader + 8);
  bytes.writeUInt16LE(ref.offset, l.loopEntry);
  bytes.writeInt16LE(0, l.loopEntry + 2);
}

const HOSTILE: Record<string, Patch> = {
  "a/loop points back at the root": (b, l) => pointLoopAt(b, l, l.rootRef, l.rootNumber),
  "a/loop points at a, its own directory": (b, l) => pointLoopAt(b, l, l.aRef, l.aNumber),
  "a/loop's inode block lies far beyond the inode table": (b, l) =>
    b.writeUInt32LE(0x7fff0000, l.loopHeader + 4),
  "a/loop's inode offset lies outside its metadata block": (b, l) => b.writeUInt16LE(0xfff0, l.loopEntry),
  "a/loop's inode number is out of range": (b, l) => b.writeUInt32LE(0x00ffffff, l.loopHeader + 8),
  "directory a declares a 64 KiB listing": (b, l) => {
    assert.equal(l.aRef.block, 0, "a's inode is in the first (uncompressed) metadata block");
    const inode = l.inodeTableStart + 2 + l.aRef.offset;
    assert.equal(b.readUInt16LE(inode), 1, "a is a basic directory inode");
    b.writeUInt16LE(0xffff, inode + 24);
  },
};

async function expectCoded(what: string, work: () => Promise<unknown>): Promise<GvmconvError> {
  const t0 = performance.now();
  const rss0 = process.memoryUsage().rss;
  let caught: unknown;
  try {
    await work();
  } catch (err) {
    caught = err;
  }
  const ms = performance.now() - t0;
  assert.ok(caught instanceof GvmconvError, `${what}: expected a coded error, got ${String(caught)}`);
  assert.match(caught.code, /^E_SQUASHFS_/, `${what}: ${caught.code}`);
  assert.ok(ms < TIME_LIMIT_MS, `${what}: took ${ms.toFixed(0)} ms`);
  assert.ok(process.memoryUsage().rss - rss0 < 256 * 2 ** 20, `${what}: memory grew unboundedly`);
  return caught;
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

test(
  "hostile images: ls -R, verify and cat stop with one coded error, quickly",
  { skip: !haveMksquashfs },
  async () => {
    const dir = tempDir();
    try {
      const good = goodImage(dir);
      const l = await layout(good);
      // The unpatched image is fine: the patches, not the generator, make the failures.
      assert.equal(await drain(listImage(good, "/", { recursive: true })), 3);
      await verifyImage(good);
      assert.equal(Buffer.concat(await toArray(readImageFile(good, "z.txt"))).toString(), "zzz\n");
      let i = 0;
      for (const [name, patch] of Object.entries(HOSTILE)) {
        const bytes = readFileSync(good);
        patch(bytes, l);
        const image = join(dir, `hostile-${i++}.sqfs`);
        writeFileSync(image, bytes);
        const ls = await expectCoded(`${name}: ls -R`, () =>
          drain(listImage(image, "/", { recursive: true })),
        );
        const verify = await expectCoded(`${name}: verify`, () => verifyImage(image));
        const cat = await expectCoded(`${name}: cat`, () => drain(readImageFile(image, "a/loop/z.txt")));
        if (name.includes("64 KiB")) {
          // A name past "loop" makes the lookup read on into what the size claims is listing.
          const far = await expectCoded(`${name}: cat a/zz`, () => drain(readImageFile(image, "a/zz")));
          assert.equal(far.code, "E_SQUASHFS_IMAGE_CORRUPT", far.message);
        }
        if (name.includes("points")) {
          for (const e of [ls, verify, cat]) {
            assert.equal(e.code, "E_SQUASHFS_IMAGE_CORRUPT", `${name}: ${e.message}`);
            assert.match(e.message, /a loop/, `${name}: ${e.message}`);
          }
        }
        // The CLI: exit 1 and exactly one coded line on stderr.
        for (const argv of [
          ["ls", "-R", image],
          ["verify", image],
          ["cat", image, "a/loop/z.txt"],
        ]) {
          const r = await run(argv);
          assert.equal(r.code, 1, `${name}: ${argv.join(" ")}: ${r.stderr}`);
          assert.match(
            r.stderr,
            /^gvmconv: error \[E_SQUASHFS_[A-Z_]+\]: [^\n]+\n$/,
            `${name}: ${argv.join(" ")}`,
          );
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("walk and verify stop on an aborted signal", { skip: !haveMksquashfs }, async () => {
  const dir = tempDir();
  try {
    const good = goodImage(dir);
    const stop = new AbortController();
    stop.abort(new Error("interrupted"));
    await assert.rejects(verifyImage(good, { signal: stop.signal }), /interrupted/);
    await assert.rejects(
      drain(listImage(good, "/", { recursive: true, signal: stop.signal })),
      /interrupted/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function toArray<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const CONFIG: ContainerConfig = { Image: "sha256:" + "cd".repeat(32), Cmd: ["/bin/sh"] } as ContainerConfig;

test(
  "padded images: a plain image padded past 1 MiB and a .gvmi with padding before its trailer are read by inspect, ls, cat and verify",
  { skip: !haveMksquashfs || !haveUnsquashfs },
  async () => {
    const dir = tempDir();
    try {
      const good = goodImage(dir);
      const used = (await inspectImage(good)).squashfs.bytesUsed;
      const plain = join(dir, "padded.sqfs");
      writeFileSync(plain, readFileSync(good));
      truncateSync(plain, readFileSync(good).length + 3 * 2 ** 20 + 17);
      // The oracle: squashfs-tools read the padded image too.
      execFileSync("unsquashfs", ["-no-progress", "-d", join(dir, "x"), plain]);
      assert.equal(readFileSync(join(dir, "x/z.txt"), "utf8"), "zzz\n");

      const gvmi = join(dir, "padded.gvmi");
      writeFileSync(gvmi, readFileSync(good));
      truncateSync(gvmi, readFileSync(good).length + 2 ** 20);
      await appendTrailer(gvmi, CONFIG);

      for (const [file, kind] of [
        [plain, "squashfs"],
        [gvmi, "gvmi"],
      ] as const) {
        const info = await inspectImage(file);
        assert.equal(info.format, kind);
        assert.equal(info.squashfs.bytesUsed, used);
        assert.ok(info.squashfs.partSize >= used + 2 ** 20, `${kind}: part ${info.squashfs.partSize}`);
        const listed = await toArray(listImage(file, "/", { recursive: true }));
        assert.deepEqual(
          listed.map((d) => [d.path, d.entries.map((e) => e.name)]),
          [
            ["", ["a", "z.txt"]],
            ["a", ["loop"]],
            ["a/loop", []],
          ],
        );
        assert.equal(Buffer.concat(await toArray(readImageFile(file, "z.txt"))).toString(), "zzz\n");
        const v = await verifyImage(file);
        assert.equal(v.kind, kind);
        assert.equal(v.files, 1);
        assert.equal(v.directories, 3);
      }

      // Padding that is not all zero is not padding: the file is neither plain nor a .gvmi.
      const dirty = join(dir, "dirty.sqfs");
      const bytes = Buffer.concat([readFileSync(good), Buffer.alloc(2 ** 20)]);
      bytes[bytes.length - 1] = 1;
      writeFileSync(dirty, bytes);
      await assert.rejects(
        inspectImage(dirty),
        (err: unknown) => err instanceof GvmconvError && /^E_GVMI_/.test(err.code),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
