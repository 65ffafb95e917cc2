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
