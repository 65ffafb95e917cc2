import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeTarPath } from "../../src/tar/index.js";

test("leading / and ./ are dropped, empty and . components removed; the root is ''", () => {
  assert.equal(normalizeTarPath("./a/b/"), "a/b");
  assert.equal(normalizeTarPath("/etc//passwd"), "etc/passwd");
  assert.equal(normalizeTarPath("//x"), "x");
  assert.equal(normalizeTarPath("a/./b/."), "a/b");
  assert.equal(normalizeTarPath("./"), "");
  assert.equal(normalizeTarPath("/"), "");
  assert.equal(normalizeTarPath("."), "");
  assert.equal(normalizeTarPath(""), "");
});

test(".. resolves lexically and is clamped at the root: a name never escapes it", () => {
  assert.equal(normalizeTarPath("a/b/../c"), "a/c");
  assert.equal(normalizeTarPath("../x"), "x");
  assert.equal(normalizeTarPath("/../x"), "x");
  assert.equal(normalizeTarPath("../../etc/shadow"), "etc/shadow");
  assert.equal(normalizeTarPath("a/../../b"), "b");
  assert.equal(normalizeTarPath(".."), "");
});

test("other names are kept as they are (whiteouts, dots inside names, UTF-8)", () => {
  assert.equal(normalizeTarPath("usr/.wh.lib"), "usr/.wh.lib");
  assert.equal(normalizeTarPath("a/...b/..c"), "a/...b/..c");
  assert.equal(normalizeTarPath("dir/café"), "dir/café");
});
