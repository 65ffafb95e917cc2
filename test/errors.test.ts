import { test } from "node:test";
import assert from "node:assert/strict";
import { GvmconvError } from "../src/errors.js";

test("GvmconvError keeps its code and hint", () => {
  const err = new GvmconvError("E_OUTPUT_WRITE", "broken", { hint: "fix it" });
  assert.equal(err.code, "E_OUTPUT_WRITE");
  assert.equal(err.hint, "fix it");
  assert.equal(err.name, "GvmconvError");
});

test("the README lists exactly the catalogue's codes, with their meanings", async () => {
  const { readFile } = await import("node:fs/promises");
  const { ERROR_CODES, WARNING_CODES } = await import("../src/errors.js");
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const block = /<!-- codes:start[^>]*-->\n([\s\S]*?)\n<!-- codes:end -->/.exec(readme)?.[1];
  const rows = (o: Record<string, string>): string =>
    Object.entries(o)
      .map(([c, m]) => `| \`${c}\` | ${m.replace(/\|/g, "\\|")} |`)
      .join("\n");
  const expected = `| error | meaning |\n| --- | --- |\n${rows(ERROR_CODES)}\n\n| warning | meaning |\n| --- | --- |\n${rows(WARNING_CODES)}`;
  assert.equal(block, expected, "regenerate the README's code tables from src/errors.ts");
});

test("every warning has its strict error, and no code is in both catalogues", async () => {
  const { ERROR_CODES, WARNING_CODES, strictErrorCode } = await import("../src/errors.js");
  for (const w of Object.keys(WARNING_CODES) as (keyof typeof WARNING_CODES)[]) {
    assert.match(w, /^W_(OCI|TAR|LAYER|SQUASHFS|GVMI|GOLEM)_[A-Z0-9_]+$/);
    assert.ok(!(strictErrorCode(w) in ERROR_CODES), `${strictErrorCode(w)} would mean two things`);
  }
  for (const e of Object.keys(ERROR_CODES))
    assert.match(
      e,
      /^E_(USAGE|ABORTED|(INPUT|OUTPUT|OCI|HTTP|TAR|LAYER|SQUASHFS|GVMI|GOLEM|BUILD)_[A-Z0-9_]+)$/,
    );
});

test("the credential helper's meaning states the helper timeout the code uses", async () => {
  // The catalogue is text (src/errors.ts imports nothing of the registry client's), so the one
  // number it repeats is pinned here to the constant that applies it.
  const { ERROR_CODES } = await import("../src/errors.js");
  const { CREDENTIAL_HELPER_TIMEOUT_MS } = await import("../src/oci/credentials.js");
  assert.match(
    ERROR_CODES.E_OCI_CREDENTIAL_HELPER,
    new RegExp(`within ${CREDENTIAL_HELPER_TIMEOUT_MS / 1000} s\\b`),
  );
});
