/**
 * End to end: an image built here (every whiteout case, PAX long names and xattrs, special modes,
 * owners, hard links, a multi-block file) is pushed with skopeo to a real docker-registry on
 * 127.0.0.1 and converted by `convert()` from there. The .gvmi is then read by tools nobody here
 * wrote: its trailer decoded as the Golem runtime does, its SquashFS extracted by `unsquashfs`
 * and compared entry by entry with `umoci unpack` of the same image, its hash checked with
 * `sha3sum`. A second conversion must give the same bytes and reuse the blob cache.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { convert, type ConvertResult } from "../../src/index.js";
import {
  hermeticEnv,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import {
  BIG_SIZE,
  CAPABILITY,
  IMAGE_CONFIG,
  LONG_NAME,
  assertSameTree,
  blobGets,
  comparable,
  decodeGvmi,
  imageFromTars,
  isRoot,
  missingTools,
  noise,
  packTar,
  rootlessOwner,
  run,
  sha3sum,
  startProxy,
  unsquashfs,
  walk,
  whiteoutLayers,
  type Proxy,
  type Walked,
} from "./support.js";

const skip = missingTools("docker-registry", "skopeo", "umoci", "unsquashfs", "sha3sum", "python3");
/** The image has /etc (without hosts, hostname, resolv.conf, mtab) and nothing else of these. */
const MOUNT_POINTS = [
  ".dockerenv",
  "dev",
  "dev/console",
  "dev/pts",
  "dev/shm",
  "etc/hostname",
  "etc/hosts",
  "etc/mtab",
  "etc/resolv.conf",
  "proc",
  "sys",
  "tmp",
];

let work: string;
let registry: RunningRegistry;
let proxy: Proxy;
let image: BuiltImage;
let source: string;
let first: ConvertResult;
let firstBytes: Buffer;
/** Process warnings emitted during the first conversion (e.g. a listener leak). */
const processWarnings: string[] = [];

const options = (extra: Parameters<typeof convert>[1] = {}): Parameters<typeof convert>[1] => ({
  outputDir: join(work, "out"),
  image: { cacheDir: join(work, "cache") },
  env: hermeticEnv(work),
  ...extra,
});

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-e2e-");
  registry = await startRegistry(join(work, "storage"));
  image = imageFromTars(await Promise.all(whiteoutLayers().map(packTar)), "gzip");
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "v1", image }]);
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:v1`,
    `docker://${registry.host}/e2e/whiteouts:v1`,
  );
  proxy = await startProxy(registry.port);
  source = `${proxy.host}/e2e/whiteouts:v1`;
  run("mkdir", ["-p", join(work, "out")]);
  const onWarning = (w: Error): void => void processWarnings.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  try {
    first = await convert(source, options());
  } finally {
    process.off("warning", onWarning);
  }
  firstBytes = await readFile(first.outputPath);
});

after(async () => {
  if (skip) return;
  await proxy.close();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

test("the trailer reads back as the Golem runtime parses it", { skip }, () => {
  assert.equal(first.kept, false);
  assert.equal(first.imageId, image.configDigest);
  assert.match(first.outputPath, /127\.0\.0\.1-\d+-e2e-whiteouts-v1-[0-9a-f]{10}\.gvmi$/);
  assert.ok(first.outputPath.endsWith(`-${image.configDigest.slice(7, 17)}.gvmi`));
  assert.equal(first.size, firstBytes.length);

  const trailer = decodeGvmi(firstBytes);
  const c = trailer.config;
  assert.deepEqual(c["Env"], IMAGE_CONFIG.Env);
  assert.deepEqual(c["Cmd"], IMAGE_CONFIG.Cmd);
  assert.deepEqual(c["Entrypoint"], IMAGE_CONFIG.Entrypoint);
  assert.equal(c["WorkingDir"], IMAGE_CONFIG.WorkingDir);
  assert.deepEqual(c["Volumes"], IMAGE_CONFIG.Volumes);
  assert.equal(c["Image"], image.configDigest);
  // gvmkit-build drops USER (the VM runs as root) unless --keep-user; we warn about it.
  assert.equal(c["User"], undefined);
  assert.deepEqual(
    first.warnings.map((w) => w.code),
    ["W_GVMI_USER_DROPPED"],
  );
  assert.deepEqual(c, JSON.parse(JSON.stringify(first.containerConfig)));

  // The SquashFS part: magic, bytes_used within it, padded to 4 KiB for the VM's loop device.
  assert.equal(firstBytes.readUInt32LE(0), 0x73717368);
  const bytesUsed = Number(firstBytes.readBigUInt64LE(40));
  assert.ok(bytesUsed <= trailer.squashfsSize, `bytes_used ${bytesUsed} ≤ ${trailer.squashfsSize}`);
  assert.equal(trailer.squashfsSize % 4096, 0);
  assert.equal(trailer.squashfsSize, first.squashfs?.imageSize ?? trailer.squashfsSize);
});

test(
  "no listener leak while a layer is streamed (regression: tar-reader's backpressure wait)",
  { skip },
  async () => {
    // Warnings are emitted on the next tick; let them arrive.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      processWarnings.filter((w) => w.startsWith("MaxListenersExceededWarning")),
      [],
    );
  },
);

test("the hash is sha3sum -a 224 of the file", { skip }, () => {
  assert.equal(first.sha3, sha3sum(first.outputPath));
});

test("the content equals umoci unpack of the same image, entry by entry", { skip }, async (t) => {
  // unsquashfs reads the .gvmi directly: the trailer lies beyond bytes_used.
  unsquashfs(first.outputPath, join(work, "ours"));
  const oursTree = walk(join(work, "ours"));

  // The oracle: the same image pulled back from the registry by skopeo, unpacked by umoci.
  await skopeo(
    "copy",
    "--src-tls-verify=false",
    `docker://${registry.host}/e2e/whiteouts:v1`,
    `oci:${join(work, "oracle")}:t`,
  );
  run("umoci", ["unpack", "--rootless", "--image", `${join(work, "oracle")}:t`, join(work, "rootless")]);
  const rootless = walk(join(work, "rootless", "rootfs"));

  // The mount points (the VM's init's, and Docker's init layer's) are our only extras, root-owned.
  assert.deepEqual(first.addedMountPoints.map((p) => p.replace(/^\//, "")).sort(), MOUNT_POINTS);
  for (const m of MOUNT_POINTS) {
    assert.equal(rootless.has(m), false);
    const w = oursTree.get(m);
    assert.ok(w !== undefined, m);
    assert.equal(w.uid, 0);
  }
  for (const m of MOUNT_POINTS) oursTree.delete(m);
  assert.equal(
    [...oursTree.keys()].some((p) => MOUNT_POINTS.some((m) => p.startsWith(`${m}/`))),
    false,
  );

  // The oracle really recorded owners (rootless umoci keeps them in user.rootlesscontainers).
  assert.deepEqual(rootlessOwner(rootless.get("etc/keep")?.rootless ?? ""), { uid: 1000, gid: 1001 });
  assert.deepEqual(rootlessOwner(rootless.get("srv")?.rootless ?? ""), { uid: 33, gid: 33 });

  const userXattrs = (k: string): boolean => k.startsWith("user.");
  assertSameTree(
    comparable(oursTree, { owners: "stat", xattrs: userXattrs }),
    comparable(rootless, { owners: "rootless", xattrs: userXattrs }),
    "vs umoci --rootless",
  );
  t.diagnostic(`${rootless.size} paths compared with umoci --rootless`);

  if (isRoot) {
    // A privileged unpack applies owners and security.* xattrs for real; mtimes of files too.
    run("umoci", ["unpack", "--image", `${join(work, "oracle")}:t`, join(work, "privileged")]);
    const privileged = walk(join(work, "privileged", "rootfs"));
    const all = (): boolean => true;
    assertSameTree(
      comparable(oursTree, { owners: "stat", xattrs: all, mtime: true }),
      comparable(privileged, { owners: "stat", xattrs: all, mtime: true }),
      "vs umoci (root)",
    );
  } else {
    t.diagnostic("not root: security.* xattrs and owners-by-stat compared only via --rootless");
  }

  // The cases this image exists for, spelled out (the oracle agreed on all of them above).
  const get = (p: string): Walked => {
    const w = oursTree.get(p);
    assert.ok(w, `'${p}' exists`);
    return w;
  };
  const text = async (p: string): Promise<string> => await readFile(join(work, "ours", p), "utf8");
  assert.equal(await text("bin/a"), "A-new");
  assert.equal(await text("bin/b"), "A-old");
  assert.equal(get("bin/b").ino, get("bin/c").ino);
  assert.notEqual(get("bin/a").ino, get("bin/b").ino);
  assert.equal(await text("l1"), "t-old");
  for (const gone of ["t", "etc/old", "usr/share/doc", "opt/d/hidden", "opt/d/sub", "swap/inner"]) {
    assert.equal(oursTree.has(gone), false, `'${gone}' whited out`);
  }
  assert.equal(get("opt/d/fresh").type, "file");
  assert.equal(get("swap").type, "file");
  assert.equal(get("swapf").type, "directory");
  assert.equal(get("bin/su").mode, 0o4755);
  assert.equal(get("bin/wall").mode, 0o2755);
  assert.equal(get("scratch").mode, 0o1777);
  assert.deepEqual([get("etc/keep").uid, get("etc/keep").gid], [1000, 1001]);
  assert.deepEqual([get("home/app/.profile").uid, get("home/app/.profile").gid], [65534, 65534]);
  assert.equal(get(LONG_NAME).type, "file");
  assert.equal(get("link").data, "etc/new");
  assert.equal(get("dangling").data, "/nowhere/at/all");
  assert.equal(get("empty").size, 0);
  assert.equal(get("big").size, BIG_SIZE + 17);
  assert.ok((await readFile(join(work, "ours", "big"))).equals(noise(BIG_SIZE + 17, "big-new")));
  assert.deepEqual(get("x-attr").xattrs, { "user.x": Buffer.from("top").toString("hex") });
  if (isRoot) assert.equal(get("bin/ping").xattrs["security.capability"], CAPABILITY.toString("hex"));
});

test("a forced rebuild is byte-identical and downloads no layer again", { skip }, async () => {
  const before = proxy.log.length;
  const again = await convert(source, options({ force: true }));
  assert.equal(again.kept, false);
  assert.equal(again.outputPath, first.outputPath);
  assert.equal(again.sha3, first.sha3);
  assert.ok((await readFile(again.outputPath)).equals(firstBytes), "byte-identical");
  const layerGets = blobGets(proxy.log.slice(before)).filter((l) =>
    image.layerDigests.some((dg) => l.url.endsWith(dg)),
  );
  assert.deepEqual(layerGets, [], "layers come from the cache");
});

test(
  "without --force an output built from the same image is kept and nothing is downloaded",
  { skip },
  async () => {
    const mtimeBefore = (await stat(first.outputPath)).mtimeMs;
    const before = proxy.log.length;
    const kept = await convert(source, options());
    assert.equal(kept.kept, true);
    assert.equal(kept.sha3, first.sha3);
    assert.equal(kept.size, firstBytes.length);
    assert.equal((await stat(first.outputPath)).mtimeMs, mtimeBefore, "file untouched");
    assert.deepEqual(blobGets(proxy.log.slice(before)), [], "no blob fetched (config from the cache too)");
    assert.ok((await readFile(first.outputPath)).equals(firstBytes));
  },
);
