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

test("the fast path for clean names agrees with the component rule on every short name", () => {
  // The rule spelled out: split, drop empty and `.`, resolve `..`, join.
  const byComponents = (name: string): string => {
    const parts: string[] = [];
    for (const part of name.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") parts.pop();
      else parts.push(part);
    }
    return parts.join("/");
  };
  // Every name of up to 6 characters over an alphabet that makes each kind of component.
  const alphabet = ["a", ".", "/", "b"];
  let names = [""];
  let checked = 0;
  for (let len = 0; len <= 6; len++) {
    for (const name of names) {
      assert.equal(normalizeTarPath(name), byComponents(name), JSON.stringify(name));
      checked++;
    }
    names = names.flatMap((n) => alphabet.map((c) => n + c));
  }
  assert.equal(checked, (4 ** 7 - 1) / 3);
});
