/**
 * A machine without liblzo2 / liblz4 / libdeflate: simulated for real by hiding the library file in a private
 * mount namespace (root and util-linux `unshare` needed), then running the built CLI there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../../..");
const cli = join(repoRoot, "build/src/cli/main.js");
const LIBS = { lzo: "liblzo2.so.2", lz4: "liblz4.so.1" } as const;

function libraryPath(name: string): string | undefined {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/lib"]) {
    if (existsSync(join(dir, name))) return realpathSync(join(dir, name));
  }
  return undefined;
}

const canHide =
  process.getuid?.() === 0 && spawnSync("unshare", ["-m", "true"]).status === 0
    ? false
    : "needs root and unshare (util-linux) to hide the library in a mount namespace";

/** Run the CLI with `lib` replaced by an empty file (dlopen then fails as for a missing library). */
function runWithout(
  lib: string,
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    "unshare",
    ["-m", "sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"', lib, process.execPath, cli, ...args],
    { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: tmpdir(), ...env } },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const [name, file] of Object.entries(LIBS)) {
  const lib = libraryPath(file);
  test(
    `without ${file}: --compression ${name} fails at once with one coded line, nothing written`,
    { skip: canHide || (lib === undefined && `${file} not installed`) },
    (t) => {
      const dir = mkdtempSync(join(tmpdir(), "gvmconv-nolib-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      mkdirSync(join(dir, "tree"));
      writeFileSync(join(dir, "tree/a"), "hello\n");
      const packageName = name === "lzo" ? "liblzo2-2" : "liblz4-1";
      for (const args of [
        ["squashfs", join(dir, "tree"), "-o", join(dir, "out.sqfs"), "--compression", name],
        [
          `oci:${join(repoRoot, "samples/hello-oci")}:latest`,
          "-o",
          join(dir, "out.gvmi"),
          "--compression-method",
          name,
        ],
      ]) {
        const r = runWithout(lib!, args);
        assert.equal(r.status, 1, `${args.join(" ")}\n${r.stderr}`);
        assert.match(r.stderr, /^gvmconv: error \[E_SQUASHFS_COMPRESSOR_LIBRARY\]: [^\n]+\n$/);
        assert.ok(r.stderr.includes(`apt-get install ${packageName}`), r.stderr);
        assert.equal(r.stdout, "");
        assert.deepEqual(readdirSync(dir), ["tree"], "no output, no temporary file");
      }
      // The same command with the library present works: the failure above was the hidden library.
      const ok = spawnSync(
        process.execPath,
        [cli, "squashfs", join(dir, "tree"), "-o", join(dir, "out.sqfs"), "--compression", name],
        { encoding: "utf8" },
      );
      assert.equal(ok.status, 0, ok.stderr);
    },
  );
}

{
  const lib = libraryPath("libdeflate.so.0");
  test(
    "without libdeflate.so.0: default gzip falls back to zlib with W_SQUASHFS_LIBDEFLATE_MISSING; levels 10–12 and GVMCONV_GZIP_BACKEND=libdeflate fail at once",
    { skip: canHide || (lib === undefined && "libdeflate.so.0 not installed") },
    (t) => {
      const dir = mkdtempSync(join(tmpdir(), "gvmconv-nolib-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      mkdirSync(join(dir, "tree"));
      writeFileSync(join(dir, "tree/a"), "hello\n".repeat(1000));
      const out = join(dir, "out.sqfs");
      const fallback = runWithout(lib!, ["squashfs", join(dir, "tree"), "-o", out, "--mkfs-time", "0"]);
      assert.equal(fallback.status, 0, fallback.stderr);
      assert.match(fallback.stderr, /warning \[W_SQUASHFS_LIBDEFLATE_MISSING\]/);
      // The fallback's bytes are exactly what the zlib backend writes where libdeflate is present.
      const zlibOut = join(dir, "zlib.sqfs");
      const zlib = spawnSync(
        process.execPath,
        [cli, "squashfs", join(dir, "tree"), "-o", zlibOut, "--mkfs-time", "0"],
        {
          encoding: "utf8",
          env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: tmpdir(), GVMCONV_GZIP_BACKEND: "zlib" },
        },
      );
      assert.equal(zlib.status, 0, zlib.stderr);
      assert.equal(
        zlib.stderr.includes("W_SQUASHFS_LIBDEFLATE_MISSING"),
        false,
        "an explicit choice does not warn",
      );
      assert.ok(readFileSync(out).equals(readFileSync(zlibOut)));
      // --strict makes the fallback an error, for builds that pin image hashes.
      rmSync(out);
      const strict = runWithout(lib!, ["squashfs", join(dir, "tree"), "-o", out, "--strict"]);
      assert.equal(strict.status, 1);
      assert.match(strict.stderr, /^gvmconv: error \[E_SQUASHFS_LIBDEFLATE_MISSING\]: [^\n]+\n$/);
      // What the runs above left (their outputs' records); the failing runs below add nothing.
      const before = readdirSync(dir).sort();
      for (const [args, env] of [
        [["squashfs", join(dir, "tree"), "-o", out, "--level", "12"], {}],
        [["squashfs", join(dir, "tree"), "-o", out], { GVMCONV_GZIP_BACKEND: "libdeflate" }],
      ] as const) {
        const r = runWithout(lib!, [...args], env);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /^gvmconv: error \[E_SQUASHFS_COMPRESSOR_LIBRARY\]: [^\n]+\n$/);
        assert.ok(r.stderr.includes("apt-get install libdeflate0"), r.stderr);
        assert.deepEqual(readdirSync(dir).sort(), before, "no output, no temporary file");
      }
    },
  );
}
