import { test } from "node:test";
import assert from "node:assert/strict";
import { FsTree, splitPath, type DirNode } from "../../../src/squashfs/writer/fs-tree.js";
import {
  SquashfsBadPathError,
  SquashfsHardlinkTargetMissingError,
  SquashfsHardlinkToDirectoryError,
  SquashfsNameTooLongError,
} from "../../../src/squashfs/errors.js";

const a = (mode: number) => ({ mode, uid: 0, gid: 0, mtime: 1 });
const layout = {
  fileSize: 0,
  blocksStart: 0,
  blockSizes: [],
  fragmentIndex: -1,
  fragmentOffset: 0,
  sparseBytes: 0,
};
const implicit = () => ({ mode: 0o755, uid: 0, gid: 0, mtime: 99 });

test("paths: normalized components only; names up to 256 UTF-8 bytes", () => {
  assert.deepEqual(splitPath(""), []);
  assert.deepEqual(splitPath("a/b"), ["a", "b"]);
  assert.equal(splitPath("é".repeat(128)).length, 1);
  assert.throws(() => splitPath("é".repeat(128) + "x"), SquashfsNameTooLongError);
  for (const bad of ["/a", "a//b", "a/./b", "../a", "a/"])
    assert.throws(() => splitPath(bad), SquashfsBadPathError);
});

test("missing parents are implicit and take their own entry's attributes when it comes", () => {
  const t = new FsTree(implicit);
  t.setNode("x/y/f", { kind: "fifo", attrs: a(0o600) });
  const x = t.root.children.get("x") as DirNode;
  assert.equal(x.attrs.mtime, 99);
  t.setDirectory("x", a(0o700));
  assert.equal(x.attrs.mode, 0o700);
  assert.ok((x.children.get("y") as DirNode).children.has("f"), "a directory entry keeps the children");
});

test("a later entry replaces a non-directory; a non-directory replaces a directory and its subtree", () => {
  const t = new FsTree(implicit);
  t.setNode("p", { kind: "fifo", attrs: a(0o600) });
  t.setNode("p", { kind: "symlink", attrs: a(0o777), target: "q" });
  assert.equal(t.root.children.get("p")!.kind, "symlink");
  t.setDirectory("p", a(0o755));
  t.setNode("p/child", { kind: "fifo", attrs: a(0o600) });
  t.setNode("p", { kind: "file", attrs: a(0o644), layout });
  assert.equal(t.root.children.get("p")!.kind, "file");
});

test("hard links resolve against the final tree to the very node of their target, through other links", () => {
  const t = new FsTree(implicit);
  t.setNode("l1", { kind: "hardlink", target: "l2", path: "l1" });
  t.setNode("l2", { kind: "hardlink", target: "f", path: "l2" });
  t.setNode("f", { kind: "file", attrs: a(0o644), layout });
  t.setNode("f", { kind: "file", attrs: a(0o600), layout });
  t.resolve();
  const f = t.root.children.get("f")!;
  assert.equal(t.root.children.get("l1"), f);
  assert.equal(t.root.children.get("l2"), f);
});

test("hard links to a missing target, a directory or in a cycle are typed errors", () => {
  const missing = new FsTree(implicit);
  missing.setNode("l", { kind: "hardlink", target: "nope/x", path: "l" });
  assert.throws(() => missing.resolve(), SquashfsHardlinkTargetMissingError);
  const dir = new FsTree(implicit);
  dir.setDirectory("d", a(0o755));
  dir.setNode("l", { kind: "hardlink", target: "d", path: "l" });
  assert.throws(() => dir.resolve(), SquashfsHardlinkToDirectoryError);
  const cycle = new FsTree(implicit);
  cycle.setNode("a", { kind: "hardlink", target: "b", path: "a" });
  cycle.setNode("b", { kind: "hardlink", target: "a", path: "b" });
  assert.throws(() => cycle.resolve(), SquashfsHardlinkTargetMissingError);
});

test("equal attribute sets are shared, and every node keeps its own values past the bound", () => {
  const t = new FsTree(implicit);
  const want = new Map<string, { mode: number; uid: number; gid: number; mtime: number }>();
  // 6000 distinct sets (more than are shared), each used by two files; neighbours differ in
  // one field only (mode, uid or gid), so a key that left one out would hand out the wrong set.
  for (let i = 0; i < 6000; i++) {
    const attrs = { mode: 0o600 | (i & 1), uid: (i >> 1) & 1, gid: (i >> 2) & 1, mtime: 1000 + (i >> 3) };
    for (const copy of ["a", "b"]) {
      const path = `d${i % 50}/f${i}-${copy}-with-a-long-name`;
      t.setNode(path, { kind: "fifo", attrs: { ...attrs } });
      want.set(path, attrs);
    }
  }
  const xattrs = new Map([["user.k", Uint8Array.of(1)]]);
  t.setNode("x", { kind: "fifo", attrs: { mode: 0o600, uid: 0, gid: 0, mtime: 1000, xattrs } });
  const seen = new Set<object>();
  for (const [path, attrs] of want) {
    const [dir, name] = path.split("/") as [string, string];
    const node = (t.root.children.get(dir) as DirNode).children.get(name)!;
    assert.ok(node.kind === "fifo");
    assert.deepEqual(node.attrs, attrs, path);
    seen.add(node.attrs);
  }
  assert.ok(seen.size < want.size, "equal sets share one object");
  const x = t.root.children.get("x")!;
  assert.ok(x.kind === "fifo" && x.attrs.xattrs === xattrs, "a set with xattrs is kept as given");
});
