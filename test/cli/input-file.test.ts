import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inputFileError, openImageFile } from "../../src/api/image-file.js";
import { hashImage } from "../../src/api/push.js";
import { GvmconvError } from "../../src/errors.js";

/** A Node errno error, as fs raises it (EACCES cannot be provoked here: the tests run as root). */
function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: from the test`), { code });
}

test("inputFileError: errno codes become E_INPUT_ codes; a reference is named as one", () => {
  const cases: [string, string, string, RegExp][] = [
    ["ENOENT", "app.gvmi", "E_INPUT_NOT_FOUND", /^app\.gvmi: no such file$/],
    ["ENOENT", "alpine:3.20", "E_INPUT_NOT_FOUND", /^`alpine:3\.20` is not a file$/],
    ["ENOENT", "ghcr.io/org/img@sha256:abcd", "E_INPUT_NOT_FOUND", /is not a file$/],
    ["ENOENT", "docker://alpine", "E_INPUT_NOT_FOUND", /is not a file$/],
    ["EISDIR", "dir", "E_INPUT_NOT_A_FILE", /^dir is a directory$/],
    ["EACCES", "secret.gvmi", "E_INPUT_READ", /permission denied/],
    ["EIO", "bad.gvmi", "E_INPUT_READ", /cannot be read/],
  ];
  for (const [code, path, expected, message] of cases) {
    const err = inputFileError(errno(code), path);
    assert.ok(err instanceof GvmconvError, `${code} ${path}`);
    assert.equal(err.code, expected, `${code} ${path}`);
    assert.match(err.message, message);
  }
  const ours = new GvmconvError("E_GVMI_TRAILER", "x");
  assert.equal(inputFileError(ours, "p"), ours, "a GvmconvError passes through");
});

test("openImageFile and hashImage (-d) refuse a missing file, a directory, /dev/null", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-input-"));
  try {
    for (const open of [openImageFile, hashImage]) {
      await assert.rejects(open(join(dir, "missing.gvmi")), { code: "E_INPUT_NOT_FOUND" });
      await assert.rejects(open(dir), { code: "E_INPUT_NOT_A_FILE" });
      await assert.rejects(open("/dev/null"), { code: "E_INPUT_NOT_A_FILE" });
      await assert.rejects(open("alpine:3.20"), /`alpine:3\.20` is not a file/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
