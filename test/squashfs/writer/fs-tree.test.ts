import { test } from "node:test";
import assert from "node:assert/strict";
import { FsTree, splitPath } from "../../../src/squashfs/writer/fs-tree.js";
import {
  SquashfsBadPathError,
  SquashfsHardlinkTargetMissingError,
  SquashfsHardlinkToDirectoryError,
  SquashfsNameTooLongError,
} from "../../../src/squashfs/errors.js";

const a = (mode: number) => ({ mode, uid: 0, gid: 0, mtime: 1 });
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
  t.setIpc("x/y/f", "fifo", a(0o600));
  const x = t.lookup("x")!;
  assert.equal(t.kind(x), "dir");
  assert.equal(t.attrs(x).mtime, 99);
  t.setDirectory("x", a(0o700));
  assert.equal(t.lookup("x"), x, "a directory entry keeps the node");
  assert.equal(t.attrs(x).mode, 0o700);
  assert.equal(t.kind(t.lookup("x/y/f")!), "fifo", "a directory entry keeps the children");
});

test("a later entry replaces a non-directory; a non-directory replaces a directory and its subtree", () => {
  const t = new FsTree(implicit);
  t.setIpc("p", "fifo", a(0o600));
  t.setSymlink("p", a(0o777), "q");
  assert.equal(t.kind(t.lookup("p")!), "symlink");
  assert.equal(t.symlinkTarget(t.lookup("p")!), "q");
  t.setDirectory("p", a(0o755));
  t.setIpc("p/child", "fifo", a(0o600));
  t.setFile("p", a(0o644), 7);
  assert.equal(t.kind(t.lookup("p")!), "file");
  assert.equal(t.layout(t.lookup("p")!), 7);
  assert.equal(t.lookup("p/child"), undefined);
  // A directory again at the same path starts empty: the old subtree stays out of reach.
  t.setIpc("p/other", "socket", a(0o600));
  assert.equal(t.kind(t.lookup("p")!), "dir");
  assert.equal(t.lookup("p/child"), undefined);
  t.resolve();
  assert.deepEqual(
    t.sortedChildren(t.lookup("p")!).map((n) => t.name(n)),
    ["other"],
  );
  assert.deepEqual(
    t.sortedChildren(t.root).map((n) => t.name(n)),
    ["p"],
    "replaced nodes are not listed",
  );
});

test("names are bytes: listed in byte order, one entry per byte form, the parent cache follows replacements", () => {
  const t = new FsTree(implicit);
  for (const n of ["b", "a", "\u00e9", "ab", "Z"]) t.setIpc(`d/${n}`, "fifo", a(0o600));
  // The parent of d/… was cached; replacing d must not let later entries land in the old one.
  t.setIpc("d", "fifo", a(0o600));
  t.setIpc("d/new", "fifo", a(0o600));
  t.resolve();
  const d = t.lookup("d")!;
  assert.deepEqual(
    t.sortedChildren(d).map((n) => t.name(n)),
    ["new"],
  );
  const u = new FsTree(implicit);
  for (const n of ["b", "a", "\u00e9", "ab", "Z", "\u{1f600}", "\uff01"]) u.setIpc(n, "fifo", a(0o600));
  u.resolve();
  const names = u.sortedChildren(u.root).map((n) => [...u.nameBytes(n)]);
  const want = ["b", "a", "\u00e9", "ab", "Z", "\u{1f600}", "\uff01"]
    .map((n) => Buffer.from(n, "utf8"))
    .sort(Buffer.compare)
    .map((b) => [...b]);
  assert.deepEqual(names, want);
});

test("a large tree: every path is found again, in every directory", () => {
  const t = new FsTree(implicit);
  const paths: string[] = [];
  for (let d = 0; d < 300; d++)
    for (let f = 0; f < 40; f++) {
      const p = `pkg${d % 17}/dir${d}/file-${f}-${(d * 7919 + f) % 101}.js`;
      paths.push(p);
      t.setFile(p, a(0o644), paths.length - 1);
    }
  for (let i = 0; i < paths.length; i++) assert.equal(t.layout(t.lookup(paths[i]!)!), i, paths[i]);
  t.resolve();
  let count = 0;
  const stack = [t.root];
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop())
    for (const c of t.sortedChildren(dir)) {
      if (t.kind(c) === "dir") stack.push(c);
      else count++;
    }
  assert.equal(count, paths.length);
});

test("hard links resolve against the final tree to the very node of their target, through other links", () => {
  const t = new FsTree(implicit);
  t.setHardlink("l1", "l2");
  t.setHardlink("l2", "f");
  t.setFile("f", a(0o644), 1);
  t.setFile("f", a(0o600), 2);
  t.resolve();
  const f = t.lookup("f")!;
  assert.equal(t.inodeOf(t.lookup("l1")!), f);
  assert.equal(t.inodeOf(t.lookup("l2")!), f);
  assert.equal(t.layout(f), 2, "the later file won");
  assert.deepEqual([...t.linkTargets], [f]);
});

test("hard links to a missing target, a directory or in a cycle are typed errors", () => {
  const missing = new FsTree(implicit);
  missing.setHardlink("l", "nope/x");
  assert.throws(() => missing.resolve(), SquashfsHardlinkTargetMissingError);
  const dir = new FsTree(implicit);
  dir.setDirectory("d", a(0o755));
  dir.setHardlink("l", "d");
  assert.throws(() => dir.resolve(), SquashfsHardlinkToDirectoryError);
  const cycle = new FsTree(implicit);
  cycle.setHardlink("a", "b");
  cycle.setHardlink("b", "a");
  assert.throws(() => cycle.resolve(), SquashfsHardlinkTargetMissingError);
  // A link in a subtree that a later entry replaced is gone with it: nothing to resolve.
  const gone = new FsTree(implicit);
  gone.setHardlink("d/l", "nope");
  gone.setIpc("d", "fifo", a(0o600));
  assert.doesNotThrow(() => gone.resolve());
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
      t.setIpc(path, "fifo", { ...attrs });
      want.set(path, attrs);
    }
  }
  const xattrs = new Map([["user.k", Uint8Array.of(1)]]);
  t.setIpc("x", "fifo", { mode: 0o600, uid: 0, gid: 0, mtime: 1000, xattrs });
  const seen = new Set<object>();
  for (const [path, attrs] of want) {
    const node = t.lookup(path)!;
    assert.equal(t.kind(node), "fifo");
    assert.deepEqual(t.attrs(node), attrs, path);
    seen.add(t.attrs(node));
  }
  assert.ok(seen.size < want.size, "equal sets share one object");
  assert.equal(t.attrs(t.lookup("x")!).xattrs, xattrs, "a set with xattrs is kept as given");
});
