/**
 * Disk full, for real: a 2 MiB tmpfs (root only) as the blob cache, then as the output directory,
 * while a 3 MB layer is pulled from a real docker-registry. Each run must end in one coded line
 * naming the full filesystem's path and what to do, leave nothing partial in the cache's
 * temporary areas or at the destination, and the next run, once there is room, must give the
 * same bytes as a run that never lacked space.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  buildImage,
  hermeticEnv,
  pushImage,
  startRegistry,
  tmp,
  type RunningRegistry,
} from "../oci/helpers.js";
import { cli, isRoot, missingTools, noise, sha256File } from "./support.js";

const skip = !isRoot ? "needs root (mount -t tmpfs)" : missingTools("docker-registry", "skopeo");

let work: string;
let registry: RunningRegistry;
let env: Record<string, string | undefined>;
let reference: string;
const mounts: string[] = [];

function mountTmpfs(dir: string, size: string): void {
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  mounts.push(dir);
}

function remount(dir: string, size: string): void {
  const r = spawnSync("mount", ["-o", `remount,size=${size}`, dir], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

/** Every file under `dir`, relative. */
async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(join(dir, prefix)).catch((): string[] => [])) {
    const rel = join(prefix, name);
    if ((await stat(join(dir, rel))).isDirectory()) out.push(...(await files(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-disk-full-");
  registry = await startRegistry(join(work, "storage"));
  const image = await buildImage({
    layers: [
      { files: { "etc/hostname": "golem\n" }, compression: "gzip" },
      // base64 of random bytes: ~3 MB once gzipped, more than the 2 MiB filesystems below.
      { files: { "data.b64": noise(3_000_000, "disk-full").toString("base64") }, compression: "gzip" },
    ],
  });
  await pushImage(image, `${registry.host}/full/img:1`, work);
  env = hermeticEnv(work);
  // What a run with room writes.
  const out = join(work, "reference.gvmi");
  const r = await cli(
    [`${registry.host}/full/img:1`, "-o", out, "--cache-dir", join(work, "cache-ref"), "-q"],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  reference = sha256File(out);
});

after(async () => {
  if (skip) return;
  for (const m of mounts) spawnSync("umount", [m]);
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

function oneNoSpaceLine(r: { code: number; stdout: string; stderr: string }, path: string): void {
  assert.equal(r.code, 1, r.stderr);
  // The runtime-config advice (no VOLUME) comes before any layer is read; then the one error.
  const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("gvmconv: warning [W_GVMI_"));
  assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
  assert.match(lines[0] ?? "", /^gvmconv: error \[E_OUTPUT_NO_SPACE\]: no space left on the device holding /);
  assert.ok(lines[0]?.includes(path), lines[0]);
  assert.match(lines[0] ?? "", / — free space/);
}

test(
  "the blob cache fills its disk: one coded line, no partial or temp left, the next run is correct",
  { skip },
  async () => {
    const cache = join(work, "cache-full");
    await mkdir(cache);
    mountTmpfs(cache, "2m");
    const out = join(work, "out-1");
    await mkdir(out);
    const argv = [`${registry.host}/full/img:1`, "-o", join(out, "img.gvmi"), "--cache-dir", cache, "-q"];
    const r = await cli(argv, env);
    oneNoSpaceLine(r, cache);
    assert.match(r.stderr, /--cache-dir/);
    assert.deepEqual(await readdir(out), [], "nothing at the destination");
    const left = await files(cache);
    assert.deepEqual(
      left.filter((f) => !f.startsWith("blobs/")),
      [],
      `nothing in the cache's temporary areas: ${left.join(", ")}`,
    );
    // With room, the same cache gives the same image.
    remount(cache, "16m");
    const again = await cli(argv, env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(sha256File(join(out, "img.gvmi")), reference);
  },
);

test(
  "the output directory fills its disk: one coded line, nothing at the destination, the next run is correct",
  { skip },
  async () => {
    const out = join(work, "out-full");
    await mkdir(out);
    mountTmpfs(out, "2m");
    const argv = [
      `${registry.host}/full/img:1`,
      "-o",
      join(out, "img.gvmi"),
      "--cache-dir",
      join(work, "cache-2"),
      "-q",
    ];
    const r = await cli(argv, env);
    oneNoSpaceLine(r, join(out, "img.gvmi"));
    assert.match(r.stderr, /-o/);
    assert.deepEqual(await files(out), [], "no temporary file, no image, no descriptor");
    remount(out, "16m");
    const again = await cli(argv, env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(sha256File(join(out, "img.gvmi")), reference);
  },
);
