/**
 * Byte-for-byte pins: the same inputs give the same .gvmi and SquashFS files, release after
 * release and whatever the worker count. Providers cache images by their SHA3-224, so a change
 * to any of these hashes changes every image users have published. A restructuring must leave
 * them all as they are; a deliberate format change updates them in the same commit, saying why.
 *
 * Covered: the sample OCI image through the whole CLI (gzip and xz), a directory and a tar
 * through `gvmconv squashfs`, and the writer on an entry set with every inode kind, hard links,
 * xattrs, duplicates, fragments, a sparse block and a multi-block file.
 *
 * gzip has two encoders (compressor/gzip.ts): the default, libdeflate (these pins are
 * libdeflate 1.14's, Debian bookworm's libdeflate0), and Node's zlib, `GVMCONV_GZIP_BACKEND=zlib`,
 * whose pins are the ones every release before libdeflate wrote — unchanged.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmod,
  chown,
  link,
  lutimes,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSquashfs, type Entry } from "../src/squashfs/index.js";
import { runCli } from "./support/cli-run.js";
import { prng } from "./support/prng.js";

const repoRoot = new URL("../..", import.meta.url).pathname;
const SAMPLE = `oci:${join(repoRoot, "samples", "hello-oci")}:latest`;

let work = "";
before(async () => {
  work = await mkdtemp(join(tmpdir(), "gvmconv-pins-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function sha3(path: string): Promise<string> {
  return createHash("sha3-224")
    .update(await readFile(path))
    .digest("hex");
}

/** A hermetic environment: nothing of the developer's machine leaks into the bytes. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { HOME: work, XDG_CACHE_HOME: join(work, "cache"), XDG_CONFIG_HOME: join(work, "config"), ...extra };
}

function noise(seed: number, length: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** Text-like bytes: compressible, but not trivially. */
function text(seed: number, length: number): Uint8Array {
  const words = ["golem", "squash", "layer", "inode", "block", "fragment", "\n", "provider", "vm"];
  const next = prng(seed);
  const out: string[] = [];
  let n = 0;
  while (n < length) {
    const w = words[Math.floor(next() * words.length)]!;
    out.push(w, " ");
    n += w.length + 1;
  }
  return Buffer.from(out.join("")).subarray(0, length);
}

function entries(): Entry[] {
  const a = (mode: number, uid = 0, gid = 0, mtime = 1_700_000_000) => ({ mode, uid, gid, mtime });
  const big = new Uint8Array(3 * 131072 + 5000);
  big.set(text(1, 131072), 0); // block 0: text; block 1: zeros (sparse); block 2: noise; tail
  big.set(noise(2, 131072), 2 * 131072);
  big.set(text(3, 5000), 3 * 131072);
  const shared = text(4, 20_000);
  return [
    { type: "directory", path: "etc", attrs: a(0o755) },
    {
      type: "file",
      path: "etc/hostname",
      attrs: a(0o644, 1000, 100),
      size: 6,
      content: Buffer.from("golem\n"),
    },
    { type: "file", path: "usr/lib/big.bin", attrs: a(0o644), size: big.length, content: big },
    { type: "file", path: "usr/share/a.txt", attrs: a(0o644), size: shared.length, content: shared },
    { type: "file", path: "usr/share/b.txt", attrs: a(0o600, 5, 6), size: shared.length, content: shared },
    { type: "file", path: "usr/share/empty", attrs: a(0o644), size: 0, content: new Uint8Array(0) },
    { type: "hardlink", path: "usr/share/a-link", target: "usr/share/a.txt" },
    { type: "symlink", path: "bin", attrs: a(0o777), target: "usr/bin" },
    { type: "char-device", path: "dev/null", attrs: a(0o666), major: 1, minor: 3 },
    { type: "block-device", path: "dev/sda", attrs: a(0o660, 0, 6), major: 8, minor: 0 },
    { type: "fifo", path: "run/fifo", attrs: a(0o644) },
    {
      type: "file",
      path: "usr/bin/ping",
      attrs: {
        ...a(0o4755),
        xattrs: new Map([["security.capability", Buffer.from("01000002002000000000000000000000", "hex")]]),
      },
      size: 4096,
      content: noise(5, 4096),
    },
    { type: "directory", path: "tmp", attrs: a(0o1777) },
    ...Array.from({ length: 300 }, (_, i): Entry => {
      const body = text(100 + i, 50 + ((i * 37) % 900));
      return {
        type: "file",
        path: `usr/share/many/f${String(i).padStart(3, "0")}`,
        attrs: a(0o644),
        size: body.length,
        content: body,
      };
    }),
  ];
}

const PINS = {
  writerGzip: "36b2a254bad0e790e0dea959fd909399700b650d14839da8d29d0d5e",
  writerGzipZlib: "d2daf32b1083d65ad4edbed323ec84b16584faa8a25fcbe2fa801744",
  writerGzip12: "e9a27fb8bd8019670d7f1cb3916986c788fc6f317a4d4c3ce8a2087d",
  writerXz: "4ada72777e19f3ae9a60d5ad7403079c921f97239720f2bb2a8c0aad",
  sampleGvmi: "0068457b6526880d2074eab114088b7913aefb2c66c39ac2d6168fe6",
  sampleGvmiZlib: "7b6331cd4ab4f1ab8c672cd7c8c7174815ebfbb960eb3b5775b177cb",
  sampleGvmiXz: "40a1d004f706bd44760ef73535a132de93e163d70bec6b5f495c8dec",
  directory: "0bae913ecf91bde389e64f89c9bf29df077a7cc3e3495702dc4e29ea",
  tarGnu: "4f217d8e14ee964bbde82c6b71ee4dca29c44906b8df0da43f3d4e17",
  tarGnuZlib: "f9b55da6c07a9fd205ca594cf9adef75f8f718045db0710545a22919",
};

test("the writer gives the pinned bytes for gzip (libdeflate 6 and 12, zlib) and xz, with 0, 1 and 2 workers", async () => {
  for (const [label, options, pin] of [
    ["gzip", { compression: "gzip" }, PINS.writerGzip],
    ["gzip-12", { compression: "gzip", level: 12 }, PINS.writerGzip12],
    ["gzip-zlib", { compression: "gzip", gzipBackend: "zlib" }, PINS.writerGzipZlib],
    ["xz", { compression: "xz" }, PINS.writerXz],
  ] as const) {
    for (const workers of [0, 1, 2]) {
      const out = join(work, `writer-${label}-${workers}.sqfs`);
      await writeSquashfs(entries(), out, { ...options, workers, mkfsTime: 1_700_000_000 });
      assert.equal(await sha3(out), pin, `${label}, ${workers} workers`);
    }
  }
});

test("the sample image converts to the pinned .gvmi (gzip default, gzip with zlib, xz)", async () => {
  const gz = join(work, "sample.gvmi");
  const r1 = await runCli([SAMPLE, "-o", gz], { env: env() });
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(await sha3(gz), PINS.sampleGvmi);
  const gzZlib = join(work, "sample-zlib.gvmi");
  const r0 = await runCli([SAMPLE, "-o", gzZlib], { env: env({ GVMCONV_GZIP_BACKEND: "zlib" }) });
  assert.equal(r0.code, 0, r0.stderr);
  assert.equal(await sha3(gzZlib), PINS.sampleGvmiZlib);
  const xz = join(work, "sample-xz.gvmi");
  const r2 = await runCli([SAMPLE, "-o", xz, "--compression-method", "xz", "--workers", "1"], { env: env() });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(await sha3(xz), PINS.sampleGvmiXz);
});

/** A small tree on disk with owners, modes, times, a hard link and a symlink. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, "etc"), { recursive: true });
  await mkdir(join(root, "srv/app"), { recursive: true });
  await writeFile(join(root, "etc/os-release"), 'NAME="pins"\n');
  await writeFile(join(root, "srv/app/data.bin"), noise(7, 300_000));
  await writeFile(join(root, "srv/app/readme"), text(8, 3000));
  await link(join(root, "srv/app/readme"), join(root, "srv/readme-link"));
  await symlink("app/readme", join(root, "srv/readme-sym"));
  await chmod(join(root, "srv/app/data.bin"), 0o640);
  await chown(join(root, "srv/app"), 1000, 1000).catch(() => undefined);
  const t = 1_650_000_000;
  for (const p of ["etc/os-release", "srv/app/data.bin", "srv/app/readme", "srv/app", "srv", "etc", ""]) {
    await utimes(join(root, p), t, t);
  }
  await lutimes(join(root, "srv/readme-sym"), t, t);
}

test("gvmconv squashfs: a directory and a GNU tar give the pinned images", async () => {
  const root = join(work, "tree");
  await makeTree(root);
  const isRoot = process.getuid?.() === 0;
  const dirOut = join(work, "dir.sqfs");
  const r1 = await runCli(["squashfs", root, "-o", dirOut, "--mkfs-time", "1"], { env: env() });
  assert.equal(r1.code, 0, r1.stderr);
  // Ownership on disk is only ours to set as root; elsewhere the pin would differ.
  if (isRoot) assert.equal(await sha3(dirOut), PINS.directory);

  const tar = join(work, "tree.tar");
  execFileSync("tar", [
    "--format=gnu",
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@1650000000",
    "-C",
    root,
    "-cf",
    tar,
    ".",
  ]);
  const tarOut = join(work, "tar.sqfs");
  const r2 = await runCli(["squashfs", tar, "-o", tarOut, "--mkfs-time", "1"], { env: env() });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(await sha3(tarOut), PINS.tarGnu);
  const tarZlib = join(work, "tar-zlib.sqfs");
  const r3 = await runCli(["squashfs", tar, "-o", tarZlib, "--mkfs-time", "1"], {
    env: env({ GVMCONV_GZIP_BACKEND: "zlib" }),
  });
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal(await sha3(tarZlib), PINS.tarGnuZlib);
});
