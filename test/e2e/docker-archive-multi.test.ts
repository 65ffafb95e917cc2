/**
 * `docker save a b` archives, made for real: `podman build` (FROM scratch and local files, no
 * network, its own vfs storage) and `podman save -m --format docker-archive`. The image is chosen
 * as containers/image does, `docker-archive:PATH[:REF|:@N]`; without a choice the run is refused
 * with the choices listed. The same archive is then rewritten into the two other shapes Docker
 * writes: legacy `<id>/layer.tar` entries, shared ones as symlinks (`abc/layer.tar ->
 * ../def/layer.tar`, Docker < 25), and an OCI layout plus manifest.json (Docker ≥ 25, by skopeo).
 *
 * Oracle: the .gvmi of `podman save` of that one image alone, byte for byte (same --mkfs-time),
 * and the tree unsquashfs extracts from it.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hermeticEnv, skopeo, tmp } from "../oci/helpers.js";
import { cli, missingTools, sha256File, unsquashfs, walk, type CliRun } from "./support.js";

const skip = missingTools("podman", "skopeo", "unsquashfs", "tar");
const MKFS = ["--mkfs-time", "1700000000"];

let work: string;
let multi: string;
/** The .gvmi of each image saved alone: what choosing it from the multi-image archive must give. */
const oracle = new Map<string, string>();
let n = 0;

function podman(...args: string[]): string {
  const r = spawnSync(
    "podman",
    ["--root", join(work, "root"), "--runroot", join(work, "runroot"), "--storage-driver", "vfs", ...args],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`podman ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function gnuTar(...args: string[]): void {
  const r = spawnSync("tar", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")}: ${r.stderr}`);
}

function ok(r: CliRun): void {
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
}

async function convert(source: string): Promise<{ run: CliRun; out: string }> {
  const out = join(work, `out-${n++}.gvmi`);
  return { run: await cli([source, "-o", out, ...MKFS], hermeticEnv(work)), out };
}

/** The regular files unsquashfs extracts, name → content. */
async function tree(gvmi: string): Promise<Record<string, string>> {
  const dir = join(work, `tree-${n++}`);
  unsquashfs(gvmi, dir);
  const files: Record<string, string> = {};
  for (const [path, w] of walk(dir))
    if (w.type === "file") files[path] = await readFile(join(dir, path), "utf8");
  return files;
}

interface SaveEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

before(async () => {
  if (skip !== false) return;
  work = await tmp("gvmconv-e2e-multi-");
  const ctx = join(work, "ctx");
  await mkdir(ctx);
  for (const name of ["base", "one", "two"]) await writeFile(join(ctx, `${name}.txt`), `${name}\n`);
  await writeFile(join(ctx, "Base"), "FROM scratch\nCOPY base.txt /base.txt\n");
  await writeFile(join(ctx, "A"), "FROM localhost/base:1\nCOPY one.txt /one.txt\nENV WHICH=a\n");
  await writeFile(join(ctx, "B"), "FROM localhost/base:1\nCOPY two.txt /two.txt\nENV WHICH=b\n");
  podman("build", "-q", "-t", "base:1", "-f", join(ctx, "Base"), ctx);
  podman("build", "-q", "-t", "a:1", "-f", join(ctx, "A"), ctx);
  podman("build", "-q", "-t", "b:1", "-t", "b:latest", "-f", join(ctx, "B"), ctx);
  multi = join(work, "multi.tar");
  podman("save", "-m", "--format", "docker-archive", "-o", multi, "a:1", "b:1", "b:latest");
  for (const name of ["a:1", "b:1"]) {
    const alone = join(work, `alone-${name.replace(":", "-")}.tar`);
    podman("save", "--format", "docker-archive", "-o", alone, name);
    const { run, out } = await convert(`docker-archive:${alone}`);
    ok(run);
    oracle.set(name, sha256File(out));
  }
});

after(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test(
  "podman save -m of two images: no REF is refused with E_OCI_ARCHIVE_AMBIGUOUS listing every choice, no output",
  { skip },
  async () => {
    const { run, out } = await convert(`docker-archive:${multi}`);
    assert.equal(run.code, 1);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0] ?? "",
      /^gvmconv: error \[E_OCI_ARCHIVE_AMBIGUOUS\]: .*the archive holds 2 images: @0 \(localhost\/a:1\), @1 \(localhost\/b:1, localhost\/b:latest\)/,
    );
    assert.match(
      lines[0] ?? "",
      /docker-archive:.*multi\.tar:localhost\/a:1 or docker-archive:.*multi\.tar:@1/,
    );
    assert.ok(!(await readdir(work)).includes(out.split("/").pop() ?? ""), "no output left");
  },
);

test(
  "podman save -m: each image chosen by tag or by @N converts to the .gvmi of that image saved alone",
  { skip },
  async () => {
    for (const [ref, image] of [
      ["localhost/a:1", "a:1"],
      ["@0", "a:1"],
      ["localhost/b:1", "b:1"],
      ["localhost/b:latest", "b:1"],
      ["@1", "b:1"],
    ] as const) {
      const { run, out } = await convert(`docker-archive:${multi}:${ref}`);
      ok(run);
      assert.equal(sha256File(out), oracle.get(image), ref);
    }
    const { out } = await convert(`docker-archive:${multi}:@1`);
    const files = await tree(out);
    assert.equal(files["base.txt"], "base\n");
    assert.equal(files["two.txt"], "two\n");
    assert.equal(files["one.txt"], undefined);
  },
);

test(
  "podman save -m: a tag it lacks, or @N past its end, is one coded line naming the choices",
  { skip },
  async () => {
    const near = await convert(`docker-archive:${multi}:b:1`);
    assert.equal(near.run.code, 1);
    assert.match(near.run.stderr, /\[E_OCI_LOCAL_SOURCE\]: .*no image tagged "b:1" .*@0 \(localhost\/a:1\)/);
    assert.match(near.run.stderr, /did you mean docker-archive:.*:localhost\/b:1\?/);
    const past = await convert(`docker-archive:${multi}:@2`);
    assert.equal(past.run.code, 1);
    assert.match(past.run.stderr, /\[E_OCI_LOCAL_SOURCE\]: .*has no image @2; it has @0 .*@1 /);
  },
);

/** Unpacks `multi`, lets `edit` rewrite its directory, and packs it again with GNU tar. */
async function rewritten(
  name: string,
  edit: (dir: string, manifest: SaveEntry[]) => Promise<void>,
): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  gnuTar("-C", dir, "-xf", multi);
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as SaveEntry[];
  await edit(dir, manifest);
  await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
  const archive = join(work, `${name}.tar`);
  gnuTar("-C", dir, "--sort=name", "-cf", archive, ".");
  return archive;
}

test(
  "Docker < 25 shape: layers as <id>/layer.tar, the shared one a symlink to another image's (abc/layer.tar -> ../def/layer.tar)",
  { skip },
  async () => {
    const archive = await rewritten("legacy", async (dir, manifest) => {
      // podman's <id>/layer.tar entries are symlinks to <digest>.tar; Docker's own archives hold
      // the file in one <id>/ directory and link the other images' directories to it.
      const byTarget = new Map<string, string>();
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const target = await readlink(join(dir, entry.name, "layer.tar")).catch(() => undefined);
        if (target !== undefined) byTarget.set(target.replace(/^\.\.\//, ""), entry.name);
      }
      for (const [blob, id] of byTarget) {
        await rm(join(dir, id, "layer.tar"));
        await rename(join(dir, blob), join(dir, id, "layer.tar"));
      }
      const [a, b] = manifest;
      assert.ok(a !== undefined && b !== undefined);
      a.Layers = a.Layers.map((l) => `${byTarget.get(l)}/layer.tar`);
      // Image b's copy of the shared base layer: a directory of its own whose layer.tar links to a's.
      const shared = a.Layers[0] ?? "";
      await mkdir(join(dir, "b-base"));
      await symlink(`../${shared}`, join(dir, "b-base", "layer.tar"));
      b.Layers = [`b-base/layer.tar`, ...b.Layers.slice(1).map((l) => `${byTarget.get(l)}/layer.tar`)];
    });
    const listing = spawnSync("tar", ["-tvf", archive], { encoding: "utf8" }).stdout;
    assert.match(listing, /b-base\/layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar/);
    for (const [ref, image] of [
      ["localhost/a:1", "a:1"],
      ["localhost/b:latest", "b:1"],
    ] as const) {
      const { run, out } = await convert(`docker-archive:${archive}:${ref}`);
      ok(run);
      assert.equal(sha256File(out), oracle.get(image), ref);
    }
  },
);

test(
  "layer symlinks that leave the archive or loop are a missing layer, not a read outside it",
  { skip },
  async () => {
    const archive = await rewritten("hostile-links", async (dir, manifest) => {
      const [a] = manifest;
      assert.ok(a !== undefined);
      await mkdir(join(dir, "out"));
      await symlink("../../../../../../etc/passwd", join(dir, "out", "layer.tar"));
      await mkdir(join(dir, "loop"));
      await symlink("../loop2/layer.tar", join(dir, "loop", "layer.tar"));
      await mkdir(join(dir, "loop2"));
      await symlink("../loop/layer.tar", join(dir, "loop2", "layer.tar"));
      a.Layers = ["out/layer.tar", ...a.Layers.slice(1)];
      const b = manifest[1];
      assert.ok(b !== undefined);
      b.Layers = ["loop/layer.tar", ...b.Layers.slice(1)];
    });
    for (const [ref, layer] of [
      ["@0", "out/layer.tar"],
      ["@1", "loop/layer.tar"],
    ] as const) {
      const { run } = await convert(`docker-archive:${archive}:${ref}`);
      assert.equal(run.code, 1);
      assert.match(run.stderr, new RegExp(`\\[E_OCI_LOCAL_SOURCE\\]: .*layer ${layer} is missing`));
    }
  },
);

test(
  "Docker ≥ 25 shape with two images: an OCI layout (by skopeo) plus manifest.json naming blobs/sha256/…",
  { skip },
  async () => {
    const dir = join(work, "docker25");
    const layout = join(dir, "layout");
    await mkdir(dir);
    const manifest: SaveEntry[] = [];
    for (const [ref, tag] of [
      ["localhost/a:1", "a"],
      ["localhost/b:1", "b"],
    ] as const) {
      await skopeo("copy", `docker-archive:${multi}:${ref}`, `oci:${layout}:${tag}`);
      const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
        manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
      };
      const d = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
      assert.ok(d !== undefined);
      const m = JSON.parse(await readFile(join(layout, "blobs", ...d.digest.split(":")), "utf8")) as {
        config: { digest: string };
        layers: Array<{ digest: string }>;
      };
      const blob = (digest: string): string => `blobs/${digest.replace(":", "/")}`;
      manifest.push({
        Config: blob(m.config.digest),
        RepoTags: [ref],
        Layers: m.layers.map((l) => blob(l.digest)),
      });
    }
    await writeFile(join(layout, "manifest.json"), JSON.stringify(manifest));
    const archive = join(work, "docker25.tar");
    gnuTar("-C", layout, "--sort=name", "-cf", archive, ".");
    for (const [ref, image] of [
      ["localhost/a:1", "a:1"],
      ["@1", "b:1"],
    ] as const) {
      const { run, out } = await convert(`docker-archive:${archive}:${ref}`);
      ok(run);
      assert.equal(sha256File(out), oracle.get(image), ref);
    }
    const { run } = await convert(`docker-archive:${archive}`);
    assert.match(run.stderr, /\[E_OCI_ARCHIVE_AMBIGUOUS\]/);
  },
);
