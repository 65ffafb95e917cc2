import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyWhiteout } from "../../src/layers/whiteout.js";

test("ordinary paths are not whiteouts, even with .wh. inside a name", () => {
  assert.deepEqual(classifyWhiteout("usr/bin/ls"), { kind: "none" });
  assert.deepEqual(classifyWhiteout("a/x.wh.y"), { kind: "none" });
  assert.deepEqual(classifyWhiteout(""), { kind: "none" });
});

test(".wh.NAME removes NAME in the same directory", () => {
  assert.deepEqual(classifyWhiteout("etc/.wh.passwd"), { kind: "whiteout", target: "etc/passwd" });
  assert.deepEqual(classifyWhiteout(".wh.tmp"), { kind: "whiteout", target: "tmp" });
  assert.deepEqual(classifyWhiteout("a/.wh..hidden"), { kind: "whiteout", target: "a/.hidden" });
});

test(".wh..wh..opq makes its directory opaque (the root too)", () => {
  assert.deepEqual(classifyWhiteout("a/b/.wh..wh..opq"), { kind: "opaque", dir: "a/b" });
  assert.deepEqual(classifyWhiteout(".wh..wh..opq"), { kind: "opaque", dir: "" });
});

test("other .wh..wh.* names, and anything under them, are AUFS metadata", () => {
  assert.deepEqual(classifyWhiteout(".wh..wh.plnk"), { kind: "aufs-meta" });
  assert.deepEqual(classifyWhiteout(".wh..wh.plnk/123.456"), { kind: "aufs-meta" });
  assert.deepEqual(classifyWhiteout("x/.wh..wh.aufs"), { kind: "aufs-meta" });
});

test("whiteouts that would name the directory itself or its parent are invalid", () => {
  assert.equal(classifyWhiteout("a/.wh..").kind, "invalid");
  assert.equal(classifyWhiteout("a/.wh.").kind, "invalid");
  assert.equal(classifyWhiteout("a/.wh.x/y").kind, "invalid");
});
