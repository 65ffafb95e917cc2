import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeLayers, type LayerEntries } from "../../src/layers/merge.js";
import { MERGE_WARNINGS } from "../../src/layers/merge-warnings.js";
import { createContext, StrictWarningError } from "../../src/context.js";
import { CollectingReporter } from "../../src/reporter.js";
import type { Entry } from "../../src/squashfs/index.js";
import { Sink } from "./merge-sink.js";

// ---- hand-built layer entries (what the tar reader yields: normalized paths, whiteouts kept) ----

const dir = (path: string, mode = 0o755, uid = 0): Entry => ({
  type: "directory",
  path,
  attrs: { mode, uid, gid: 0, mtime: 0 },
});
const file = (path: string, text: string, mode = 0o644): Entry => ({
  type: "file",
  path,
  attrs: { mode, uid: 0, gid: 0, mtime: 0 },
  size: Buffer.byteLength(text),
  content: Buffer.from(text),
});
const whiteout = (path: string): Entry => file(path, "");
const symlink = (path: string, target: string): Entry => ({
  type: "symlink",
  path,
  attrs: { mode: 0o777, uid: 0, gid: 0, mtime: 0 },
  target,
});
const link = (path: string, target: string): Entry => ({ type: "hardlink", path, target });

/** Merges layers given TOPMOST FIRST and returns the sink's description plus warnings. */
async function merge(
  layers: Entry[][],
  strict = false,
): Promise<{ tree: string[]; codes: string[]; sink: Sink }> {
  const collected = new CollectingReporter();
  const { reporter } = createContext({ env: {}, reporter: collected, strict });
  const sink = await new Sink().consume(mergeLayers(layers as LayerEntries[], { reporter }));
  return { tree: sink.describe(), codes: collected.warnings.map((w) => w.code), sink };
}

/** The `path type` … lines for the given paths only. */
function pick(tree: string[], ...paths: string[]): string[] {
  return tree.filter((line) => paths.includes(line.slice(0, line.indexOf(" "))));
}

// ---- directories, replacement ----

test("an upper file replaces a lower one; untouched lower files survive", async () => {
  const { tree, codes } = await merge([[file("a", "new")], [file("a", "old"), file("b", "b")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'a file 644 0:0 "new"', 'b file 644 0:0 "b"']);
  assert.deepEqual(codes, []);
});

test("two directories merge: the upper attributes win and lower children survive", async () => {
  const { tree } = await merge([
    [dir("d", 0o700, 5), file("d/up", "u")],
    [dir("d", 0o755, 0), file("d/low", "l")],
  ]);
  assert.deepEqual(pick(tree, "d", "d/up", "d/low"), [
    "d directory 700 5:0",
    'd/low file 644 0:0 "l"',
    'd/up file 644 0:0 "u"',
  ]);
});

test("a directory only implied by an upper layer takes the lower directory's attributes", async () => {
  const { tree } = await merge([[file("d/up", "u")], [dir("d", 0o711, 7)]]);
  assert.deepEqual(pick(tree, "d"), ["d directory 711 7:0"]);
});

test("a directory implied by an upper layer hides a lower non-directory there", async () => {
  const { tree } = await merge([[file("d/up", "u")], [file("d", "lower file")]]);
  assert.deepEqual(pick(tree, "d", "d/up"), ["d directory 755 0:0", 'd/up file 644 0:0 "u"']);
});

test("an upper file replacing a directory hides the lower subtree", async () => {
  const { tree } = await merge([
    [file("d", "f")],
    [dir("d"), file("d/x", "x"), dir("d/sub"), file("d/sub/y", "y")],
  ]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'd file 644 0:0 "f"']);
});

test("an upper directory replacing a file keeps only its own children", async () => {
  const { tree } = await merge([[dir("d", 0o750), file("d/x", "x")], [file("d", "old file")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "d directory 750 0:0", 'd/x file 644 0:0 "x"']);
});

test("a symlink replacing a directory hides the lower subtree (no writes through it)", async () => {
  const { tree } = await merge([[symlink("d", "/etc")], [dir("d"), file("d/passwd", "x")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "d symlink 777 0:0 /etc"]);
});

test("a file in a middle layer that lost to a directory above still destroyed the subtree below it", async () => {
  // bottom-up: layer 2 makes d/old, layer 1 replaces d by a file, layer 0 makes d a directory again
  const { tree } = await merge([
    [dir("d"), file("d/top", "t")],
    [file("d", "mid")],
    [dir("d"), file("d/old", "o")],
  ]);
  assert.deepEqual(pick(tree, "d", "d/top", "d/old"), ["d directory 755 0:0", 'd/top file 644 0:0 "t"']);
});

// ---- whiteouts ----

test("a whiteout removes the lower path and its subtree, and is never yielded", async () => {
  const { tree, sink, codes } = await merge([
    [whiteout("etc/.wh.old"), whiteout(".wh.d")],
    [file("etc/old", "o"), file("etc/keep", "k"), dir("d"), file("d/x", "x")],
  ]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "etc directory 755 0:0", 'etc/keep file 644 0:0 "k"']);
  assert.ok(sink.entries.every((e) => !e.path.includes(".wh.")));
  assert.deepEqual(codes, []);
});

test("a whiteout does not remove the same layer's entry at that path, whatever the order", async () => {
  for (const order of [0, 1]) {
    const own = [whiteout(".wh.a"), file("a", "mine")];
    if (order) own.reverse();
    const { tree } = await merge([own, [file("a", "lower"), file("b", "b")]]);
    assert.deepEqual(pick(tree, "a"), ['a file 644 0:0 "mine"']);
  }
});

test("a whiteout next to the same layer's directory still hides the lower children", async () => {
  const { tree } = await merge([
    [whiteout(".wh.d"), dir("d"), file("d/new", "n")],
    [dir("d"), file("d/old", "o")],
  ]);
  assert.deepEqual(pick(tree, "d/new", "d/old"), ['d/new file 644 0:0 "n"']);
});

test("a whiteout applies to every layer below, not just the next one", async () => {
  const { tree } = await merge([[whiteout(".wh.a")], [file("b", "b")], [file("a", "deep")]]);
  assert.deepEqual(pick(tree, "a"), []);
});

test("lower entries under a whited-out directory are dropped, however deep", async () => {
  const { tree } = await merge([[whiteout(".wh.d")], [dir("d"), file("d/x", "x")], [file("d/y/z", "z")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0"]);
});

test("an opaque whiteout hides all lower children but keeps the layer's own, whatever the tar order", async () => {
  for (const opaqueFirst of [true, false]) {
    const own = [dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/foo", "foo")];
    if (opaqueFirst) own.splice(1, 0, whiteout("a/.wh..wh..opq"));
    else own.push(whiteout("a/.wh..wh..opq"));
    const { tree } = await merge([
      own,
      [dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/bar", "bar"), file("a/x", "x")],
    ]);
    assert.deepEqual(tree, [
      "/ directory 755 0:0",
      "a directory 755 0:0",
      "a/b directory 755 0:0",
      "a/b/c directory 755 0:0",
      'a/b/c/foo file 644 0:0 "foo"',
    ]);
  }
});

test("an opaque directory keeps the lower directory's own entry when the layer has none", async () => {
  const { tree } = await merge([[whiteout("a/.wh..wh..opq")], [dir("a", 0o701), file("a/x", "x")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "a directory 701 0:0"]);
});

test("AUFS metadata (.wh..wh.*) is ignored with everything under it", async () => {
  const { tree, codes } = await merge([
    [dir(".wh..wh.plnk"), file(".wh..wh.plnk/1.2", "x"), file(".wh..wh.aufs", ""), file("a", "a")],
  ]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'a file 644 0:0 "a"']);
  assert.deepEqual(codes, []);
});

test("a whiteout of a path no lower layer has is W_LAYER_WHITEOUT_MISSING, reported once at the end", async () => {
  const { codes } = await merge([[whiteout(".wh.ghost"), whiteout(".wh.real")], [file("real", "r")]]);
  assert.deepEqual(codes, [MERGE_WARNINGS.whiteoutMissing]);
});

test("a whiteout under a path its own layer made a file is a no-op with W_LAYER_WHITEOUT_UNDER_NON_DIRECTORY", async () => {
  const { tree, codes } = await merge([[file("a", "f"), whiteout("a/.wh.b")], [file("c", "c")]]);
  assert.deepEqual(pick(tree, "a"), ['a file 644 0:0 "f"']);
  assert.deepEqual(codes, [MERGE_WARNINGS.whiteoutUnderNonDirectory]);
});

test("whiteout names that remove nothing nameable are W_LAYER_WHITEOUT_INVALID (never the parent)", async () => {
  const { tree, codes } = await merge([
    [whiteout("d/.wh.."), whiteout("d/.wh."), file("x/.wh.y/z", "")],
    [dir("d"), file("d/f", "f")],
  ]);
  assert.deepEqual(pick(tree, "d", "d/f"), ["d directory 755 0:0", 'd/f file 644 0:0 "f"']);
  assert.deepEqual(codes, [
    MERGE_WARNINGS.whiteoutInvalid,
    MERGE_WARNINGS.whiteoutInvalid,
    MERGE_WARNINGS.whiteoutInvalid,
  ]);
});

// ---- entries under removed paths ----

test("entries under an upper non-directory, whiteout or opaque directory are dropped", async () => {
  const { tree } = await merge([
    [file("f", "file"), whiteout(".wh.w"), dir("o"), whiteout("o/.wh..wh..opq")],
    [file("f/x", "x"), dir("w"), file("w/x", "x"), file("o/x", "x"), file("ok", "ok")],
  ]);
  assert.deepEqual(tree, [
    "/ directory 755 0:0",
    'f file 644 0:0 "file"',
    "o directory 755 0:0",
    'ok file 644 0:0 "ok"',
  ]);
});

// ---- one layer's own duplicates ----

test("within a layer the later entry at a path wins, and both are judged against upper layers alike", async () => {
  const { tree } = await merge([
    [file("keep", "k")],
    [file("a", "first"), file("a", "second"), file("keep", "lower")],
  ]);
  assert.deepEqual(pick(tree, "a", "keep"), ['a file 644 0:0 "second"', 'keep file 644 0:0 "k"']);
});

test("within a layer a directory may replace a file, and the later directory's attributes win", async () => {
  const { tree } = await merge([[file("a", "f"), dir("a", 0o700), dir("a", 0o750), file("a/x", "x")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "a directory 750 0:0", 'a/x file 644 0:0 "x"']);
});

test("a file after a directory at the same path in one layer is W_LAYER_DIRECTORY_REPLACED", async () => {
  const { tree, codes } = await merge([[dir("a"), file("a/x", "x"), file("a", "f")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "a directory 755 0:0", 'a/x file 644 0:0 "x"']);
  assert.deepEqual(codes, [MERGE_WARNINGS.directoryReplacedInLayer]);
});

test("an entry under a path its own layer made a file is W_LAYER_PARENT_NOT_DIRECTORY", async () => {
  const { tree, codes } = await merge([[file("a", "f"), file("a/x", "x")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'a file 644 0:0 "f"']);
  assert.deepEqual(codes, [MERGE_WARNINGS.parentNotDirectory]);
});

test("a non-directory root entry is W_LAYER_ROOT_NOT_DIRECTORY; a root directory entry sets the root's attributes", async () => {
  const { tree, codes } = await merge([[dir("", 0o700)], [file("", "x"), dir("", 0o755)]]);
  assert.deepEqual(tree, ["/ directory 700 0:0"]);
  assert.deepEqual(codes, [MERGE_WARNINGS.rootNotDirectory]);
});

// ---- hard links ----

test("a hard link to a file of the same layer shares its inode", async () => {
  const { tree } = await merge([[file("bin/a", "A"), link("bin/b", "bin/a")]]);
  assert.deepEqual(pick(tree, "bin/a", "bin/b"), ['bin/a file 644 0:0 "A"', 'bin/b file 644 0:0 "A" =bin/a']);
});

test("a hard link to an untouched file of a lower layer shares its inode", async () => {
  const { tree, sink } = await merge([[link("b", "a")], [file("a", "A")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'a file 644 0:0 "A"', 'b file 644 0:0 "A" =a']);
  assert.deepEqual(
    sink.entries.map((e) => `${e.type} ${e.path}`),
    ["file a", "hardlink b"],
  );
});

test("a hard link keeps the content its target had in its layer when an upper layer replaced the target", async () => {
  const { tree, codes } = await merge([
    [file("t", "new")],
    [link("l1", "t"), link("l2", "t")],
    [file("t", "old")],
  ]);
  assert.deepEqual(tree, [
    "/ directory 755 0:0",
    'l1 file 644 0:0 "old"',
    'l2 file 644 0:0 "old" =l1',
    't file 644 0:0 "new"',
  ]);
  assert.deepEqual(codes, []);
});

test("a hard link keeps its target's content when an upper layer whited the target out", async () => {
  const { tree } = await merge([[whiteout(".wh.t")], [link("l", "t")], [file("t", "old")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'l file 644 0:0 "old"']);
});

test("hard links from several layers to one lower inode stay one inode", async () => {
  const { tree } = await merge([
    [whiteout(".wh.t")],
    [link("l1", "t")],
    [link("l2", "t")],
    [file("t", "old")],
  ]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'l1 file 644 0:0 "old"', 'l2 file 644 0:0 "old" =l1']);
});

test("hard links chain through a lower hard link to the inode it names", async () => {
  const { tree } = await merge([[link("l", "t")], [link("t", "u")], [file("u", "U")]]);
  assert.deepEqual(tree, [
    "/ directory 755 0:0",
    'l file 644 0:0 "U"',
    't file 644 0:0 "U" =l',
    'u file 644 0:0 "U" =l',
  ]);
});

test("hard links keep symlinks, devices and fifos as the same inode", async () => {
  const { tree } = await merge([[link("l", "s")], [symlink("s", "target")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", "l symlink 777 0:0 target", "s symlink 777 0:0 target =l"]);
});

test("a hard link to its own path names the version below it", async () => {
  const { tree } = await merge([[link("t", "t")], [file("t", "T")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 't file 644 0:0 "T"']);
});

test("a hard link to a missing target is W_LAYER_HARDLINK_TARGET_MISSING and skipped", async () => {
  const { tree, codes } = await merge([[link("l", "nowhere")], [file("x", "x")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 'x file 644 0:0 "x"']);
  assert.deepEqual(codes, [MERGE_WARNINGS.hardlinkTargetMissing]);
});

test("a hard link whose target an intermediate layer removed has no target", async () => {
  const { tree, codes } = await merge([[link("l", "t")], [whiteout(".wh.t")], [file("t", "T")]]);
  assert.deepEqual(tree, ["/ directory 755 0:0"]);
  assert.deepEqual(codes, [MERGE_WARNINGS.hardlinkTargetMissing]);
});

test("a hard link to a target its own layer whited out has no target", async () => {
  const { codes } = await merge([[link("l", "d/t"), whiteout("d/.wh..wh..opq")], [file("d/t", "T")]]);
  assert.deepEqual(codes, [MERGE_WARNINGS.hardlinkTargetMissing]);
});

test("a hard link to a directory is W_LAYER_HARDLINK_TO_DIRECTORY", async () => {
  const { codes } = await merge([[link("l", "d")], [dir("d")]]);
  assert.deepEqual(codes, [MERGE_WARNINGS.hardlinkToDirectory]);
});

test("a hard link to a same-layer file an upper layer replaced gets it from a second reading of that layer", async () => {
  let opened = 0;
  const lower = () => {
    opened++;
    return [file("t", "old"), link("l1", "t"), link("l2", "l1"), file("other", "o")];
  };
  const reporter = new CollectingReporter();
  const sink = await new Sink().consume(mergeLayers([[file("t", "new")], lower], { reporter }));
  assert.deepEqual(sink.describe(), [
    "/ directory 755 0:0",
    'l1 file 644 0:0 "old"',
    'l2 file 644 0:0 "old" =l1',
    'other file 644 0:0 "o"',
    't file 644 0:0 "new"',
  ]);
  assert.equal(opened, 2);
  assert.deepEqual(reporter.warnings, []);
});

test("...and is W_LAYER_HARDLINK_TARGET_DROPPED when the layer is a one-shot stream", async () => {
  async function* once(): AsyncGenerator<Entry> {
    yield file("t", "old");
    yield link("l", "t");
  }
  const { tree, codes } = await merge([[file("t", "new")], once() as unknown as Entry[]]);
  assert.deepEqual(tree, ["/ directory 755 0:0", 't file 644 0:0 "new"']);
  assert.deepEqual(codes, [MERGE_WARNINGS.hardlinkTargetDropped]);
});

test("a hidden hard link does not count as a missing target", async () => {
  const { codes } = await merge([[whiteout(".wh.l")], [link("l", "nowhere")]]);
  assert.deepEqual(codes, []); // the whiteout matched l, whose target is then moot
});

// ---- strict mode, streaming ----

test("strict mode turns a warning into a StrictWarningError with a stable E_ code", async () => {
  await assert.rejects(merge([[link("l", "nowhere")], [file("x", "x")]], true), (err: unknown) => {
    assert.ok(err instanceof StrictWarningError);
    assert.equal(err.code, "E_LAYER_HARDLINK_TARGET_MISSING");
    assert.equal(err.warning.code, MERGE_WARNINGS.hardlinkTargetMissing);
    assert.equal(err.path, "l");
    return true;
  });
});

test("dropped files' streamed content is drained before the next entry; kept content goes to the consumer", async () => {
  const read: string[] = [];
  const streamed = (path: string, text: string): Entry => ({
    type: "file",
    path,
    attrs: { mode: 0o644, uid: 0, gid: 0, mtime: 0 },
    size: text.length,
    content: (async function* () {
      read.push(path);
      yield Buffer.from(text);
    })(),
  });
  async function* lower(): AsyncGenerator<Entry> {
    yield streamed("gone", "g");
    assert.deepEqual(read, ["gone"], "drained before the next entry was requested");
    yield streamed("kept", "k");
  }
  const { tree } = await merge([[whiteout(".wh.gone")], lower() as unknown as Entry[]]);
  assert.deepEqual(pick(tree, "gone", "kept"), ['kept file 644 0:0 "k"']);
  assert.deepEqual(read, ["gone", "kept"]);
});

test("memory is per path: a layer of many files merges without holding their data", async () => {
  const layer = Array.from({ length: 20_000 }, (_, i) => file(`d${i % 100}/f${i}`, "x"));
  const reporter = new CollectingReporter();
  let count = 0;
  for await (const _e of mergeLayers([[whiteout(".wh.d0")], layer], { reporter })) count++;
  assert.equal(count, 20_000 - 200); // d0's 200 files dropped; directories stay implied
});
