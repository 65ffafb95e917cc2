import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutputExistsError, writeAtomically } from "../src/atomic-output.js";

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-atomic-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("a failing producer leaves neither the destination nor a temporary file", () =>
  inTemp(async (dir) => {
    const dest = join(dir, "out.bin");
    await assert.rejects(
      writeAtomically(dest, {}, async (tmp) => {
        await writeFile(tmp, "partial");
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual(await readdir(dir), []);
  }));

test("the result appears under its name only when complete; an existing file needs force", () =>
  inTemp(async (dir) => {
    const dest = join(dir, "out.bin");
    await writeAtomically(dest, {}, (tmp) => writeFile(tmp, "one"));
    assert.equal(await readFile(dest, "utf8"), "one");
    await assert.rejects(
      writeAtomically(dest, {}, (tmp) => writeFile(tmp, "two")),
      OutputExistsError,
    );
    assert.equal(await readFile(dest, "utf8"), "one");
    await writeAtomically(dest, { force: true }, (tmp) => writeFile(tmp, "two"));
    assert.equal(await readFile(dest, "utf8"), "two");
    assert.deepEqual(await readdir(dir), ["out.bin"]);
  }));

// ── Output paths that would damage an input, or are not a place for a file ──────────────────

import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { linkSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { checkOutputPath } from "../src/atomic-output.js";
import { buildSquashfs, convert } from "../src/index.js";
import { GvmconvError } from "../src/errors.js";
import { packTar } from "./support/tar.js";
import { buildImage, hermeticEnv, skopeo, writeLayout } from "./oci/helpers.js";
import { runCli } from "./support/cli-run.js";

const haveSkopeo = spawnSync("skopeo", ["--version"]).status === 0;

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function isCoded(code: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof GvmconvError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };
}

/** A small tar to image. */
async function tarFile(dir: string): Promise<string> {
  const path = join(dir, "in.tar");
  writeFileSync(path, await packTar([{ header: { name: "etc/hostname" }, body: "golem\n" }]));
  return path;
}

test("squashfs IN -o IN (also through a hard link or a symlink) is refused and IN stays byte-identical", () =>
  inTemp(async (dir) => {
    const input = await tarFile(dir);
    const before = sha256(input);
    linkSync(input, join(dir, "hard.tar"));
    symlinkSync(input, join(dir, "soft.tar"));
    for (const out of [input, join(dir, "hard.tar"), join(dir, "soft.tar"), join(dir, ".", "in.tar")]) {
      await assert.rejects(buildSquashfs(input, out, { force: true }), isCoded("E_OUTPUT_IS_INPUT"));
      assert.equal(sha256(input), before, out);
    }
    const r = await runCli(["squashfs", input, "-o", input, "--force"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^gvmconv: error \[E_OUTPUT_IS_INPUT\]: [^\n]+\n$/);
    assert.equal(sha256(input), before);
    // Nothing left beside it.
    assert.deepEqual((await readdir(dir)).sort(), ["hard.tar", "in.tar", "soft.tar"]);
  }));

test("squashfs DIR -o DIR/out.sqfs is refused (not silently left out of the walk); outside DIR it is written", () =>
  inTemp(async (dir) => {
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    writeFileSync(join(tree, "f"), "x");
    for (const out of [join(tree, "out.sqfs"), join(tree, "sub", "..", "sub", "out.sqfs")]) {
      await assert.rejects(buildSquashfs(tree, out), isCoded("E_OUTPUT_IS_INPUT"));
    }
    symlinkSync(tree, join(dir, "link"));
    await assert.rejects(buildSquashfs(tree, join(dir, "link", "out.sqfs")), isCoded("E_OUTPUT_IS_INPUT"));
    assert.deepEqual((await readdir(tree)).sort(), ["f", "sub"]);
    assert.deepEqual(await readdir(join(tree, "sub")), []);
    // A sibling whose name starts like the directory's is outside it.
    const ok = await buildSquashfs(tree, join(dir, "tree-out.sqfs"));
    assert.ok(ok.size > 0);
  }));

test("a device, a FIFO or a socket as output is refused before anything is written", () =>
  inTemp(async (dir) => {
    const input = await tarFile(dir);
    // /dev/null is only checked, never given to a writer: were the check broken, a rename as
    // root would replace the machine's /dev/null. The write path runs on a device node of our own.
    await assert.rejects(checkOutputPath("/dev/null"), isCoded("E_OUTPUT_NOT_A_FILE"));
    if (process.getuid?.() === 0) {
      const dev = join(dir, "null");
      execFileSync("mknod", ["-m", "666", dev, "c", "1", "3"]);
      await assert.rejects(buildSquashfs(input, dev, { force: true }), isCoded("E_OUTPUT_NOT_A_FILE"));
      assert.ok(lstatSync(dev).isCharacterDevice(), "the device node is still a device");
      await rm(dev);
    }
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    await assert.rejects(buildSquashfs(input, fifo, { force: true }), isCoded("E_OUTPUT_NOT_A_FILE"));
    assert.ok(lstatSync(fifo).isFIFO());
    const sock = join(dir, "sock");
    const server = createServer();
    await new Promise<void>((res) => server.listen(sock, res));
    try {
      await assert.rejects(checkOutputPath(sock), isCoded("E_OUTPUT_NOT_A_FILE"));
      await assert.rejects(
        writeAtomically(sock, { force: true }, async () => assert.fail("must not be called")),
        isCoded("E_OUTPUT_NOT_A_FILE"),
      );
      assert.ok(lstatSync(sock).isSocket());
    } finally {
      await new Promise((res) => server.close(res));
    }
    const r = await runCli(["squashfs", input, "-o", fifo, "--force"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^gvmconv: error \[E_OUTPUT_NOT_A_FILE\]: [^\n]+\n$/);
    // (Closing the server removed its socket.)
    assert.deepEqual((await readdir(dir)).sort(), ["fifo", "in.tar"]);
  }));

test(
  "convert oci-archive:X -o X and docker-archive:X -o X are refused; X stays byte-identical",
  { skip: !haveSkopeo },
  () =>
    inTemp(async (dir) => {
      const image = await buildImage({ layers: [{ files: { "etc/hostname": "a\n" }, compression: "gzip" }] });
      const layout = join(dir, "layout");
      await writeLayout(layout, [{ kind: "image", ref: "t", image }]);
      const oci = join(dir, "img.tar");
      const docker = join(dir, "docker.tar");
      await skopeo("copy", `oci:${layout}:t`, `oci-archive:${oci}:t`);
      await skopeo("copy", `oci:${layout}:t`, `docker-archive:${docker}:e2e/img:t`);
      const env = hermeticEnv(dir);
      for (const [source, file] of [
        [`oci-archive:${oci}`, oci],
        [`docker-archive:${docker}`, docker],
      ] as const) {
        const before = sha256(file);
        const size = statSync(file).size;
        for (const format of ["gvmi", "squashfs"] as const) {
          for (const force of [false, true]) {
            await assert.rejects(
              convert(source, { output: file, format, force, env }),
              isCoded("E_OUTPUT_IS_INPUT"),
              `${source} ${format} force=${force}`,
            );
            assert.equal(sha256(file), before);
            assert.equal(statSync(file).size, size);
          }
        }
      }
      const r = await runCli([`oci-archive:${oci}`, "-o", oci], { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /^gvmconv: error \[E_OUTPUT_IS_INPUT\]: [^\n]+\n$/);
      // The archive converts fine to another path.
      const made = await convert(`oci-archive:${oci}`, { output: join(dir, "out.gvmi"), env });
      assert.ok(made.size > 0);
    }),
);
