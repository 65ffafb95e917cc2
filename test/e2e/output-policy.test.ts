/**
 * One output policy for every command that writes a file (src/api/output-policy.ts), through the
 * CLI on a real OCI layout: an output built from the same image with the same options is kept
 * (and says so, with the image's real warnings); any option that changes the bytes — --volume
 * (gvmconv's own W_GVMI_NO_VOLUMES advice), --env, --entrypoint, --compression-method,
 * --compression-level, --block-size, --mkfs-time, --keep-user — rebuilds it; a file gvmconv did
 * not write is refused without --force. The same for --format squashfs and `gvmconv squashfs`.
 * Oracles: an independent trailer decoder, the superblock bytes read here, and the file's inode
 * and mtime (kept means untouched).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assembleImage, hermeticEnv, layerTar, tmp, writeLayout } from "../oci/helpers.js";
import { convert } from "../../src/index.js";
import { cli, decodeGvmi, type CliRun } from "./support.js";

let work: string;
let env: Record<string, string | undefined>;
let source: string;
let n = 0;

before(async () => {
  work = await tmp("gvmconv-e2e-policy-");
  env = hermeticEnv(work);
  // No VOLUME (W_GVMI_NO_VOLUMES) and a USER (W_GVMI_USER_DROPPED): both warnings are real.
  const image = assembleImage(
    [
      {
        tar: await layerTar({
          "etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        }),
        compression: "gzip",
      },
      { tar: await layerTar({ "app/run.sh": "#!/bin/sh\necho hi\n".repeat(200) }), compression: "gzip" },
    ],
    {
      architecture: "amd64",
      os: "linux",
      config: { User: "app", Env: ["PATH=/bin"], Cmd: ["/app/run.sh"], WorkingDir: "/app" },
    },
  );
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "x", image }]);
  source = `oci:${join(work, "layout")}:x`;
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function outDir(): Promise<string> {
  const dir = join(work, `out-${n++}`);
  await mkdir(dir);
  return dir;
}

function ok(r: CliRun): void {
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
}

/** The file's identity: a kept file is not rewritten, a rebuilt one is a new inode (renamed into place). */
async function identity(path: string): Promise<string> {
  const st = await stat(path);
  return `${st.ino}:${st.mtimeMs}`;
}

function superblock(bytes: Buffer): { compression: number; blockSize: number; mkfsTime: number } {
  return {
    mkfsTime: bytes.readUInt32LE(8),
    blockSize: bytes.readUInt32LE(12),
    compression: bytes.readUInt16LE(20),
  };
}

test("a .gvmi built from the same image with the same options is kept, and says so with its warnings", async () => {
  const out = join(await outDir(), "app.gvmi");
  const first = await cli([source, "-o", out], env);
  ok(first);
  assert.match(first.stdout, /^wrote: /m);
  assert.match(first.stderr, /W_GVMI_NO_VOLUMES/);
  const before = await identity(out);

  const again = await cli([source, "-o", out, "--json"], env);
  ok(again);
  assert.equal(await identity(out), before, "kept: the file is untouched");
  assert.match(again.stderr, /already built from sha256:[0-9a-f]{64} with these options; kept/);
  const doc = JSON.parse(again.stdout) as {
    kept: boolean;
    warnings: { code: string }[];
    containerConfig: Record<string, unknown>;
    sha3: string;
  };
  assert.equal(doc.kept, true);
  assert.deepEqual(doc.warnings.map((w) => w.code).sort(), ["W_GVMI_NO_VOLUMES", "W_GVMI_USER_DROPPED"]);
  assert.deepEqual(doc.containerConfig, decodeGvmi(await readFile(out)).config);
});

test("following W_GVMI_NO_VOLUMES's advice (--volume) rebuilds; so does every option that changes the bytes", async () => {
  const out = join(await outDir(), "app.gvmi");
  ok(await cli([source, "-o", out], env));

  const advised = await cli([source, "-o", out, "--volume", "/data"], env);
  ok(advised);
  assert.match(advised.stdout, /^wrote: /m, "rebuilt, not kept");
  assert.doesNotMatch(advised.stderr, /W_GVMI_NO_VOLUMES/);
  assert.deepEqual(decodeGvmi(await readFile(out)).config["Volumes"], { "/data": {} });
  // The same options again: kept.
  const same = await cli([source, "-o", out, "--volume", "/data"], env);
  ok(same);
  assert.match(same.stdout, /^kept: /m);

  const base = ["-o", out, "--volume", "/data"];
  const changes: [string[], (file: Buffer) => void][] = [
    [["--env", "A=1"], (f) => assert.ok((decodeGvmi(f).config["Env"] as string[]).includes("A=1"))],
    [
      ["--entrypoint", "/bin/true"],
      (f) => assert.deepEqual(decodeGvmi(f).config["Entrypoint"], ["/bin/true"]),
    ],
    [["--workdir", "/tmp"], (f) => assert.equal(decodeGvmi(f).config["WorkingDir"], "/tmp")],
    [["--keep-user"], (f) => assert.equal(decodeGvmi(f).config["User"], "1000:1000")],
    [["--compression-method", "xz"], (f) => assert.equal(superblock(f).compression, 4)],
    [["--compression-level", "1"], (f) => assert.equal(f.readUInt32LE(98), 1, "gzip options: level")],
    [["--block-size", "64K"], (f) => assert.equal(superblock(f).blockSize, 65536)],
    [["--mkfs-time", "12345"], (f) => assert.equal(superblock(f).mkfsTime, 12345)],
  ];
  for (const [option, check] of changes) {
    const r = await cli([source, ...base, ...option], env);
    ok(r);
    assert.match(r.stdout, /^wrote: /m, `${option.join(" ")} rebuilds`);
    check(await readFile(out));
    const kept = await cli([source, ...base, ...option], env);
    ok(kept);
    assert.match(kept.stdout, /^kept: /m, `${option.join(" ")} twice: kept`);
    // Back to the base options for the next change.
    ok(await cli([source, ...base], env));
  }
});

test("a file gvmconv did not write is refused without --force (E_OUTPUT_NOT_OURS) and replaced with it", async () => {
  const dir = await outDir();
  const notes = join(dir, "notes.txt");
  await writeFile(notes, "my notes\n");
  const r = await cli([source, "-o", notes], env);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^gvmconv: error \[E_OUTPUT_NOT_OURS\]: .*notes\.txt exists .* — pass --force to replace it/m,
  );
  assert.equal(await readFile(notes, "utf8"), "my notes\n");
  assert.deepEqual((await readdir(dir)).sort(), ["notes.txt"], "nothing else written");
  // Before any layer: no descriptor, no temporary file, and the refusal comes before the warnings.
  assert.doesNotMatch(r.stderr, /W_GVMI/);
  ok(await cli([source, "-o", notes, "--force"], env));
  assert.equal(decodeGvmi(await readFile(notes)).config["Image"] !== undefined, true);
});

test("--format squashfs: kept with the same image and options, rebuilt otherwise, a foreign file refused", async () => {
  const dir = await outDir();
  const out = join(dir, "root.sqfs");
  const first = await cli([source, "--format", "squashfs", "-o", out], env);
  ok(first);
  const before = await identity(out);
  const again = await cli([source, "--format", "squashfs", "-o", out], env);
  ok(again);
  assert.match(again.stdout, /^kept: /m);
  assert.equal(await identity(out), before);
  const xz = await cli([source, "--format", "squashfs", "-o", out, "--compression-method", "xz"], env);
  ok(xz);
  assert.match(xz.stdout, /^wrote: /m);
  assert.equal(superblock(await readFile(out)).compression, 4);
  // Changed behind gvmconv's back: no longer recognised as its output.
  await writeFile(out, "edited by hand");
  const edited = await cli([source, "--format", "squashfs", "-o", out], env);
  assert.equal(edited.code, 1);
  assert.match(edited.stderr, /E_OUTPUT_NOT_OURS/);
  assert.equal(await readFile(out, "utf8"), "edited by hand");
});

test("gvmconv squashfs: a tar's image is kept with the same options, a directory's rebuilt, a foreign file refused", async () => {
  const dir = await outDir();
  const tree = join(dir, "tree");
  await mkdir(join(tree, "etc"), { recursive: true });
  await writeFile(join(tree, "etc", "hostname"), "box\n");
  const tar = join(dir, "tree.tar");
  execFileSync("tar", ["-C", tree, "-cf", tar, "."]);
  const out = join(dir, "t.sqfs");
  ok(await cli(["squashfs", tar, "-o", out], env));
  const before = await identity(out);
  const kept = await cli(["squashfs", tar, "-o", out, "--json"], env);
  ok(kept);
  assert.equal((JSON.parse(kept.stdout) as { kept: boolean }).kept, true);
  assert.equal(await identity(out), before);
  const level = await cli(["squashfs", tar, "-o", out, "--level", "1"], env);
  ok(level);
  assert.match(level.stderr, /^gvmconv: wrote /m);
  assert.notEqual(await identity(out), before);

  const fromDir = join(dir, "d.sqfs");
  ok(await cli(["squashfs", tree, "-o", fromDir], env));
  const d1 = await identity(fromDir);
  const d2 = await cli(["squashfs", tree, "-o", fromDir], env);
  ok(d2);
  assert.match(d2.stderr, /^gvmconv: wrote /m, "a directory cannot be compared unread: rebuilt");
  assert.notEqual(await identity(fromDir), d1);

  const foreign = join(dir, "f.sqfs");
  await writeFile(foreign, "someone else's");
  const r = await cli(["squashfs", tar, "-o", foreign], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^gvmconv: error \[E_OUTPUT_NOT_OURS\]: .* — pass --force/);
  ok(await cli(["squashfs", tar, "-o", foreign, "--force"], env));
});

test("library: an output built without mount points is rebuilt when they are asked for, then kept", async () => {
  const out = join(await outDir(), "app.gvmi");
  const options = { env, output: out, overrides: { volumes: ["/data"] } };
  const bare = await convert(source, { ...options, addMountPoints: false });
  assert.deepEqual(bare.addedMountPoints, []);
  const withMounts = await convert(source, options);
  assert.equal(withMounts.kept, false, "rebuilt: the file lacks /proc, /sys, …");
  assert.ok(withMounts.addedMountPoints.includes("/proc"));
  assert.equal((await convert(source, options)).kept, true);
});
