/**
 * Oracle test: the merge must agree with umoci (an implementation nobody here wrote), which
 * applies the same layers bottom-up onto a real filesystem. We build a small multi-layer OCI
 * image layout in the test, unpack it with `umoci unpack`, walk the bundle's rootfs with an
 * independent python walker (lstat, inode numbers for hard-link groups, xattrs), and compare it
 * entry by entry with what `mergeLayers` yields into the in-test sink.
 */
import { test } from "node:test";
import { walk, type Walked } from "../support/tree-walk.js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { mergeLayers } from "../../src/layers/merge.js";
import { readTar } from "../../src/layers/tar-reader.js";
import { CollectingReporter } from "../../src/reporter.js";
import { createContext } from "../../src/context.js";
import { Sink } from "./merge-sink.js";
import { packTar, type Member } from "../support/tar.js";

type Headers = Member["header"];

const have = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip =
  !have("umoci") || !have("python3") ? "umoci or python3 not installed (scripts/test-deps.txt)" : false;

const mtime = new Date(1_700_000_000_000);
const d = (name: string, mode = 0o755, extra: Partial<Headers> = {}): Member => ({
  header: { name: `${name}/`, type: "directory", mode, mtime, ...extra },
});
const f = (name: string, body: string, mode = 0o644, extra: Partial<Headers> = {}): Member => ({
  header: { name, type: "file", mode, mtime, ...extra },
  body,
});
const wh = (name: string): Member => f(name, "");
const sym = (name: string, target: string): Member => ({
  header: { name, type: "symlink", linkname: target, mode: 0o777, mtime },
});
const hard = (name: string, target: string): Member => ({
  header: { name, type: "link", linkname: target, mode: 0o644, mtime },
});

const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** Writes an OCI image layout with the given layer tars (BOTTOM first, manifest order) under tag `t`. */
function writeLayout(dir: string, tars: Buffer[]): void {
  const blobs = join(dir, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer | string): { digest: string; size: number } => {
    const buf = Buffer.from(data);
    const hex = sha256(buf);
    writeFileSync(join(blobs, hex), buf);
    return { digest: `sha256:${hex}`, size: buf.length };
  };
  const layers = tars.map((tar) => ({
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    ...put(gzipSync(tar)),
  }));
  const config = put(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: tars.map((t) => `sha256:${sha256(t)}`) },
    }),
  );
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers,
    }),
  );
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "t" },
        },
      ],
    }),
  );
}

function unpackWithUmoci(layout: string, bundle: string, rootless: boolean): Map<string, Walked> {
  const args = ["unpack", ...(rootless ? ["--rootless"] : []), "--image", `${layout}:t`, bundle];
  const run = spawnSync("umoci", args, { encoding: "utf8" });
  assert.equal(run.status, 0, `umoci ${args.join(" ")}: ${run.stderr}`);
  // Only user.* xattrs are compared here: what the merge itself carries through.
  const tree = walk(join(bundle, "rootfs"));
  for (const w of tree.values()) {
    w.xattrs = Object.fromEntries(Object.entries(w.xattrs).filter(([k]) => k.startsWith("user.")));
  }
  return tree;
}

/** For each path, the sorted list of paths sharing its inode (a hard-link group), or "" alone. */
function linkGroups(inodes: Map<string, number>): Map<string, string> {
  const byInode = new Map<number, string[]>();
  for (const [p, ino] of inodes) byInode.set(ino, [...(byInode.get(ino) ?? []), p]);
  const out = new Map<string, string>();
  for (const paths of byInode.values()) {
    const key = paths.length > 1 ? paths.sort().join(",") : "";
    for (const p of paths) out.set(p, key);
  }
  return out;
}

/** Layers BOTTOM first, as in the manifest. */
const LAYERS: Member[][] = [
  [
    d("."),
    d("etc"),
    f("etc/passwd", "root:x:0:0\n"),
    f("etc/old", "old"),
    f("etc/keep", "keep", 0o600, { uid: 1000, gid: 1001 }),
    d("bin"),
    f("bin/a", "A-old", 0o755),
    hard("bin/b", "bin/a"),
    hard("bin/c", "bin/a"),
    f("bin/x", "X"),
    hard("bin/y", "bin/x"),
    d("usr"),
    d("usr/share"),
    d("usr/share/doc"),
    d("usr/share/doc/pkg"),
    f("usr/share/doc/pkg/README", "readme"),
    d("opt"),
    d("opt/d", 0o700),
    f("opt/d/keep-not", "hidden by opaque"),
    d("opt/d/sub"),
    f("opt/d/sub/deep", "deep"),
    d("var"),
    sym("var/link", "../etc"),
    d("data"),
    f("data/f", "f"),
    d("swap"),
    f("swap/inner", "inner"),
    f("swapf", "was a file"),
    f("t", "t-old"),
    f("x-attr", "has xattr", 0o644, { pax: { "SCHILY.xattr.user.origin": "bottom" } }),
    d("srv", 0o711, { uid: 33, gid: 33 }),
    f("srv/index", "i", 0o640, { uid: 33, gid: 33 }),
  ],
  [
    d("etc", 0o750),
    wh("etc/.wh.old"),
    f("etc/new", "new"),
    wh("usr/share/.wh.doc"),
    d("opt/d", 0o755),
    f("opt/d/fresh", "fresh"),
    // the opaque marker after the layer's own children: it still applies first
    wh("opt/d/.wh..wh..opq"),
    f("bin/a", "A-new", 0o755),
    f("swap", "now a file"),
    d("swapf"),
    f("swapf/child", "child"),
    hard("l1", "t"),
    f("x-attr", "replaced", 0o644, { pax: { "SCHILY.xattr.user.origin": "middle" } }),
  ],
  [
    wh(".wh.t"),
    wh("bin/.wh.x"),
    d("var/link"),
    f("var/link/inside", "in a dir that was a symlink"),
    wh("data/.wh.f"),
    f("data/f2", "f2"),
    d("srv", 0o755, { uid: 33, gid: 33 }),
  ],
];

test("the merge agrees with umoci unpack on a multi-layer image", { skip }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), "gvmconv-umoci-"));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const tars = await Promise.all(LAYERS.map(packTar));
  writeLayout(join(work, "image"), tars);

  // Ours: topmost first, each layer re-openable (for hard links to its own replaced files).
  const collected = new CollectingReporter();
  const { reporter } = createContext({ env: {}, reporter: collected, strict: true });
  const topFirst = [...tars].reverse().map((tar) => () => readTar(Readable.from([tar]), { reporter }));
  const sink = await new Sink().consume(mergeLayers(topFirst, { reporter }));
  assert.deepEqual(collected.warnings, []);

  const theirs = unpackWithUmoci(join(work, "image"), join(work, "bundle"), true);
  const ours = sink.tree;
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), "same paths");
  t.diagnostic(`${theirs.size} paths compared`);

  const ourGroups = linkGroups(new Map([...ours].map(([p, n]) => [p, n.inode])));
  const theirGroups = linkGroups(new Map([...theirs].map(([p, n]) => [p, n.ino])));
  for (const [path, their] of theirs) {
    const our = ours.get(path);
    assert.ok(our);
    const ourXattrs = Object.fromEntries(
      our.xattrs
        .split(",")
        .filter(Boolean)
        .map((kv) => kv.split("=") as [string, string]),
    );
    assert.deepEqual(
      {
        type: our.type,
        mode: our.mode,
        size: our.size,
        data: our.data,
        links: ourGroups.get(path),
        xattrs: ourXattrs,
      },
      {
        type: their.type,
        mode: their.mode,
        size: their.size,
        data: their.data,
        links: theirGroups.get(path),
        xattrs: their.xattrs,
      },
      `'${path}'`,
    );
  }

  // Rootless umoci owns everything itself; the real owners come from a privileged unpack.
  if (process.getuid?.() === 0) {
    const owned = unpackWithUmoci(join(work, "image"), join(work, "bundle-root"), false);
    for (const [path, their] of owned) {
      const our = ours.get(path);
      assert.deepEqual(`${our?.uid}:${our?.gid}`, `${their.uid}:${their.gid}`, `owner of '${path}'`);
    }
  } else {
    t.diagnostic("not root: ownership compared by the unit tests only");
  }

  // The cases this image exists for, spelled out.
  const text = (p: string) => ours.get(p)?.text;
  assert.equal(text("bin/a"), "A-new");
  assert.equal(text("bin/b"), "A-old");
  assert.equal(text("bin/y"), "X");
  assert.equal(text("l1"), "t-old");
  assert.equal(theirs.get("x-attr")?.xattrs["user.origin"], Buffer.from("middle").toString("hex"));
  assert.equal(theirs.get("bin/b")?.ino, theirs.get("bin/c")?.ino);
  assert.equal(ours.has("t") || ours.has("bin/x") || ours.has("etc/old") || ours.has("usr/share/doc"), false);
  assert.equal(ours.has("opt/d/keep-not") || ours.has("opt/d/sub"), false);
});
