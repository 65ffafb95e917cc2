import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as squashfs from "../../src/squashfs/index.js";
import { reportError } from "../../src/cli/errors.js";
import { runCli, type CliRun } from "../support/cli-run.js";
import { parseSize } from "../../src/cli/parse-options.js";
import { GvmconvError } from "../../src/errors.js";

const haveWriter = typeof (squashfs as Record<string, unknown>).writeSquashfs === "function";
const haveUnsquashfs = spawnSync("unsquashfs", ["-version"]).status !== null;
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

async function run(argv: string[], stdin?: Readable): Promise<CliRun> {
  return await runCli(argv, stdin === undefined ? {} : { stdin });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "gvmconv-cli-"));
}

function makeTree(root: string): void {
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/hostname"), "golem\n");
  writeFileSync(join(root, "big"), Buffer.alloc(300_000, 3));
}

test("--version prints the package version", async () => {
  const r = await run(["--version"]);
  assert.equal(r.code, 0);
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  assert.equal(r.stdout.trim(), pkg.version);
});

test("usage errors: one line on stderr, exit 2", async () => {
  for (const argv of [
    ["squashfs", "x", "-o", "y", "--bogus"],
    ["squashfs", "x"],
    ["squashfs", "x", "-o", "y", "--compression", "zstd"],
    ["squashfs", "x", "-o", "y", "--compression", "brotli"],
    ["squashfs", "x", "-o", "y", "--block-size", "12Q"],
    ["squashfs", "x", "-o", "y", "--level", "high"],
    ["squashfs", "x", "-o", "y", "--workers", "-1"],
  ]) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(" "));
    assert.match(r.stderr, /^gvmconv: error \[E_USAGE\]: [^\n]+\n$/, argv.join(" "));
    assert.equal(r.stdout, "");
  }
});

test("parseSize accepts bytes, K and M", () => {
  assert.equal(parseSize("--block-size", "131072"), 131072);
  assert.equal(parseSize("--block-size", "128K"), 131072);
  assert.equal(parseSize("--block-size", "128k"), 131072);
  assert.equal(parseSize("--block-size", "1M"), 1048576);
  assert.equal(parseSize("--block-size", "64KiB"), 65536);
});

test("a missing input is a one-line E_INPUT_READ error, exit 1", async () => {
  const dir = tempDir();
  try {
    const r = await run(["squashfs", join(dir, "nope"), "-o", join(dir, "out.sqfs")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gvmconv: error \[E_INPUT_READ\]: .*nope does not exist — [^\n]+\n$/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an existing output gvmconv did not write is refused without --force", async () => {
  const dir = tempDir();
  try {
    makeTree(join(dir, "tree"));
    writeFileSync(join(dir, "out.sqfs"), "precious");
    const r = await run(["squashfs", join(dir, "tree"), "-o", join(dir, "out.sqfs")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gvmconv: error \[E_OUTPUT_NOT_OURS\]: .* — pass --force to replace it[^\n]*\n$/);
    assert.equal(readFileSync(join(dir, "out.sqfs"), "utf8"), "precious");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a failure mid-way leaves neither the output nor a temporary file", async () => {
  const dir = tempDir();
  try {
    makeTree(join(dir, "tree"));
    const tar = execFileSync("tar", ["-C", join(dir, "tree"), "-cf", "-", "."]);
    const truncated = tar.subarray(0, 512 * 5 + 100);
    const r = await run(
      ["squashfs", "-", "-o", join(dir, "out.sqfs"), "--debug"],
      Readable.from([truncated]),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gvmconv: error \[E_(TAR_FORMAT|NOT_IMPLEMENTED)\]: /);
    assert.deepEqual(readdirSync(dir).sort(), ["tree"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--debug adds the stack to a user error; a bug always prints its stack", () => {
  let out = "";
  const sink = new PassThrough();
  sink.on("data", (d: Buffer) => (out += d.toString()));
  const code = reportError(new GvmconvError("E_OUTPUT_WRITE", "boom", { hint: "do y" }), sink, false);
  assert.equal(code, 1);
  assert.equal(out, "gvmconv: error [E_OUTPUT_WRITE]: boom — do y\n");
  out = "";
  reportError(new GvmconvError("E_OUTPUT_WRITE", "boom"), sink, true);
  assert.match(out, /^gvmconv: error \[E_OUTPUT_WRITE\]: boom\n.*at /s);
  out = "";
  reportError(new TypeError("undefined is not a function"), sink, false);
  assert.match(out, /internal error.*\nTypeError: undefined is not a function\n\s+at /s);
});

test(
  "directory, tar file and stdin inputs make images",
  { skip: !haveWriter && "writeSquashfs not exported yet" },
  async () => {
    const dir = tempDir();
    try {
      makeTree(join(dir, "tree"));
      const tarPath = join(dir, "tree.tar.gz");
      execFileSync("tar", ["-C", join(dir, "tree"), "-czf", tarPath, "."]);
      const a = await run([
        "squashfs",
        join(dir, "tree"),
        "-o",
        join(dir, "a.sqfs"),
        "--block-size",
        "64K",
        "--workers",
        "0",
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stderr, /wrote .*a\.sqfs/);
      const b = await run(["squashfs", tarPath, "-o", join(dir, "b.sqfs"), "--compression", "xz", "--quiet"]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(b.stderr, "");
      const c = await run(
        ["squashfs", "-", "-o", join(dir, "c.sqfs")],
        Readable.from([readFileSync(tarPath)]),
      );
      assert.equal(c.code, 0, c.stderr);
      const again = await run(
        ["squashfs", "-", "-o", join(dir, "c.sqfs"), "--force"],
        Readable.from([readFileSync(tarPath)]),
      );
      assert.equal(again.code, 0, again.stderr);
      // No temporary file left; beside each image, the record of what it was built from.
      assert.deepEqual(readdirSync(dir).sort(), [
        ".a.sqfs.gvmconv.json",
        ".b.sqfs.gvmconv.json",
        ".c.sqfs.gvmconv.json",
        "a.sqfs",
        "b.sqfs",
        "c.sqfs",
        "tree",
        "tree.tar.gz",
      ]);
      if (haveUnsquashfs) {
        for (const img of ["a.sqfs", "b.sqfs", "c.sqfs"]) {
          const listing = execFileSync("unsquashfs", ["-lc", join(dir, img)], { encoding: "utf8" });
          assert.match(listing, /etc\/hostname/);
          assert.match(listing, /big/);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "the built bin runs (node dist/cli/main.js)",
  { skip: !existsSync(join(repoRoot, "dist/cli/main.js")) && "dist not built" },
  () => {
    const version = spawnSync(process.execPath, [join(repoRoot, "dist/cli/main.js"), "--version"], {
      encoding: "utf8",
    });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const bad = spawnSync(
      process.execPath,
      [join(repoRoot, "dist/cli/main.js"), "squashfs", "/nonexistent/x", "-o", "/nonexistent/y"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^gvmconv: error \[E_INPUT_READ\]: [^\n]+\n$/);
    assert.equal(bad.stdout, "");
  },
);
