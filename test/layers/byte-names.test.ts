/**
 * File names that are not UTF-8 (Latin-1 bytes, arbitrary bytes but NUL and '/'), from tars GNU
 * tar and bsdtar write and from directories, kept byte for byte into SquashFS (checked with
 * unsquashfs, names compared as bytes), listed and read back by `gvmconv ls`/`cat`, and whited
 * out across layers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSquashfs } from "../../src/api/squashfs.js";
import { decodeName, printableText } from "../../src/byte-names.js";
import { mergeLayers, readTar } from "../../src/layers/index.js";
import { writeSquashfs } from "../../src/squashfs/index.js";
import { CollectingReporter } from "../../src/reporter.js";
import { runCli } from "../support/cli-run.js";
import { rawTarHeader } from "../support/tar.js";
import { walk } from "../support/tree-walk.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const at = (dir: string, ...names: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from("/"), n])]);

/** Names as bytes: Latin-1 pairs a lossy decode would merge, one UTF-8 look-alike, odd bytes, a long one. */
const LONG = b("long-" + "n".repeat(110) + "\xe9"); // beyond ustar's 100 bytes: GNU L / PAX path
function buildTree(root: string): void {
  writeFileSync(at(root, b("caf\xe9")), "latin1 e-acute\n");
  writeFileSync(at(root, b("caf\xe8")), "latin1 e-grave\n");
  writeFileSync(at(root, Buffer.from("café", "utf8")), "utf8 e-acute\n");
  mkdirSync(at(root, b("d\xff")));
  writeFileSync(at(root, b("d\xff"), b("x\x80y\x01\\z")), "odd bytes\n");
  writeFileSync(at(root, b("d\xff"), LONG), "long name\n");
  symlinkSync(b("caf\xe9"), at(root, b("l\xe9")));
  linkSync(at(root, b("caf\xe9")), at(root, b("h\xe9")));
}

/** Every path under `root` as hex of its bytes, with what it is. */
function bytesTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (dir: Buffer, rel: Buffer[]): void => {
    for (const name of readdirSync(dir, { encoding: "buffer" })) {
      const path = Buffer.concat([dir, Buffer.from("/"), name]);
      const key = [...rel, name].map((n) => n.toString("hex")).join("/");
      const st = lstatSync(path);
      if (st.isDirectory()) {
        out.set(key, "dir");
        visit(path, [...rel, name]);
      } else if (st.isSymbolicLink()) {
        out.set(key, "link:" + readlinkSync(path, { encoding: "buffer" }).toString("hex"));
      } else out.set(key, "file:" + readFileSync(path).toString("hex"));
    }
  };
  visit(Buffer.from(root), []);
  return out;
}

function withDir(run: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-names-"));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** unsquashfs's tree of `image`, compared with `src` name by name, byte for byte. */
function assertSameTree(image: string, src: string, scratch: string): void {
  const out = join(scratch, "unsquashed");
  rmSync(out, { recursive: true, force: true });
  execFileSync("unsquashfs", ["-no-xattrs", "-d", out, image], { stdio: "pipe" });
  assert.deepEqual(bytesTree(out), bytesTree(src));
  // The independent walker (python, surrogateescape) agrees on inodes too: the hard link.
  const walked = walk(out);
  assert.equal(walked.get("h\udce9")?.ino, walked.get("caf\udce9")?.ino);
}

const TARS: Array<[string, string, string[]]> = [
  ["GNU tar (gnu format: GNU long names)", "tar", ["--format=gnu"]],
  ["GNU tar (pax: path records of raw bytes)", "tar", ["--format=pax"]],
  ["GNU tar (ustar: prefix and name)", "tar", ["--format=ustar"]],
  ["bsdtar (restricted pax, hdrcharset=BINARY)", "bsdtar", []],
  ["bsdtar (pax)", "bsdtar", ["--format=pax"]],
];

for (const [what, tool, flags] of TARS) {
  test(
    `non-UTF-8 names from a tar by ${what} are kept byte for byte`,
    withDir(async (dir) => {
      const src = join(dir, "src");
      mkdirSync(src);
      buildTree(src);
      if (flags.includes("--format=ustar")) rmSync(at(src, b("d\xff"), LONG)); // ustar: 100-byte names only
      const tar = join(dir, "in.tar");
      execFileSync(tool, [...flags, "-C", src, "-cf", tar, "."], { stdio: "pipe" });
      const image = join(dir, "out.sqfs");
      await buildSquashfs(tar, image, { writer: { workers: 0 } });
      assertSameTree(image, src, dir);

      // The same tar on standard input (`gvmconv squashfs -`).
      const piped = join(dir, "piped.sqfs");
      await buildSquashfs("-", piped, { writer: { workers: 0 }, stdin: createReadStream(tar) });
      assert.deepEqual(readFileSync(piped), readFileSync(image));
    }),
  );
}

test(
  "non-UTF-8 names from a directory are kept byte for byte",
  withDir(async (dir) => {
    const src = join(dir, "src");
    mkdirSync(src);
    buildTree(src);
    const image = join(dir, "out.sqfs");
    await buildSquashfs(src, image, { writer: { workers: 0 } });
    assertSameTree(image, src, dir);
  }),
);

test(
  "gvmconv ls prints non-UTF-8 names as \\xNN and gvmconv cat reads them by that form",
  withDir(async (dir) => {
    const src = join(dir, "src");
    mkdirSync(src);
    buildTree(src);
    const image = join(dir, "out.sqfs");
    await buildSquashfs(src, image, { writer: { workers: 0 } });

    const ls = await runCli(["ls", image]);
    assert.equal(ls.code, 0, ls.stderr);
    // Sorted by bytes, as the directory stores them: "caf\xc3\xa9" < "caf\xe8" < "caf\xe9".
    assert.deepEqual(ls.stdout.split("\n"), [
      "café",
      "caf\\xe8",
      "caf\\xe9",
      "d\\xff",
      "h\\xe9",
      "l\\xe9",
      "",
    ]);
    const long = await runCli(["ls", "-l", image, "/"]);
    assert.match(long.stdout, / l\\xe9 -> caf\\xe9\n/);
    const sub = await runCli(["ls", image, "d\\xff"]);
    assert.equal(sub.code, 0, sub.stderr);
    assert.ok(sub.stdout.includes("x\\x80y\\x01\\\\z\n"), sub.stdout);
    const rec = await runCli(["ls", "-R", image]);
    assert.ok(rec.stdout.includes("\n/d\\xff:\n"), rec.stdout);
    // --json carries the same printed form (names and symlink targets), never lone surrogates.
    const json = await runCli(["ls", "-l", "-R", "--json", image]);
    assert.equal(json.code, 0, json.stderr);
    assert.doesNotMatch(json.stdout, /\\ud[c-f]/i);
    const doc = JSON.parse(json.stdout) as {
      directories: { path: string; entries: { name: string; stat: { target?: string } }[] }[];
    };
    const top = doc.directories.find((d) => d.path === "");
    assert.deepEqual(
      top?.entries.map((e) => e.name),
      ["café", "caf\\xe8", "caf\\xe9", "d\\xff", "h\\xe9", "l\\xe9"],
    );
    assert.equal(top?.entries.find((e) => e.name === "l\\xe9")?.stat.target, "caf\\xe9");
    assert.ok(
      doc.directories.some((d) => d.path === "d\\xff"),
      json.stdout,
    );

    for (const [path, content] of [
      ["caf\\xe9", "latin1 e-acute\n"],
      ["/caf\\xe8", "latin1 e-grave\n"],
      ["café", "utf8 e-acute\n"],
      ["caf\\xc3\\xa9", "utf8 e-acute\n"],
      ["d\\xff/x\\x80y\\x01\\\\z", "odd bytes\n"],
      [`d\\xff/long-${"n".repeat(110)}\\xe9`, "long name\n"],
    ]) {
      const cat = await runCli(["cat", image, path!]);
      assert.equal(cat.code, 0, `${path}: ${cat.stderr}`);
      assert.equal(cat.stdout, content, path);
    }
    // What argv makes of the raw bytes (U+FFFD) is not a name in the image: the error says how to type it.
    const lossy = await runCli(["cat", image, "caf\ufffd"]);
    assert.equal(lossy.code, 1);
    assert.match(lossy.stderr, /E_SQUASHFS_NOT_FOUND.*\\xNN/);
  }),
);

test(
  "a whiteout of a Latin-1 name removes that name only, across two layers",
  withDir(async (dir) => {
    const lower = join(dir, "lower");
    const upper = join(dir, "upper");
    mkdirSync(lower);
    mkdirSync(upper);
    writeFileSync(at(lower, b("caf\xe9")), "gone\n");
    writeFileSync(at(lower, b("caf\xe8")), "kept\n");
    mkdirSync(at(lower, b("r\xe9p")));
    writeFileSync(at(lower, b("r\xe9p"), b("f")), "gone too\n");
    writeFileSync(at(upper, b(".wh.caf\xe9")), "");
    writeFileSync(at(upper, b(".wh.r\xe9p")), "");
    execFileSync("tar", ["-C", lower, "-cf", join(dir, "lower.tar"), "."]);
    execFileSync("bsdtar", ["-C", upper, "-cf", join(dir, "upper.tar"), "."]);
    const reporter = new CollectingReporter();
    const layers = [join(dir, "upper.tar"), join(dir, "lower.tar")].map(
      (t) => () => readTar(createReadStream(t), { reporter }),
    );
    const image = join(dir, "out.sqfs");
    await writeSquashfs(mergeLayers(layers, { reporter }), image, { workers: 0 });
    assert.deepEqual(reporter.warnings, []);
    const listed = execFileSync("unsquashfs", ["-lc", "-d", "", image]);
    assert.deepEqual(listed.toString("latin1").split("\n").filter(Boolean).sort(), ["/caf\xe8"]);
  }),
);

test(
  "two names whose string forms differ only in escaped bytes are two entries (once a duplicate-name internal error)",
  withDir(async (dir) => {
    // What a lossy encoder made of both: EF BF BD, one name twice in one directory listing.
    const attrs = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
    const image = join(dir, "out.sqfs");
    await writeSquashfs(
      [
        { type: "file", path: "caf\udce9", attrs, size: 1, content: Buffer.from("e") },
        { type: "file", path: "caf\udce8", attrs, size: 1, content: Buffer.from("g") },
        { type: "symlink", path: "link", attrs, target: "caf\udce9" },
      ],
      image,
      { workers: 0 },
    );
    const out = join(dir, "x");
    execFileSync("unsquashfs", ["-d", out, image], { stdio: "pipe" });
    assert.deepEqual(
      bytesTree(out),
      new Map([
        [b("caf\xe8").toString("hex"), "file:" + Buffer.from("g").toString("hex")],
        [b("caf\xe9").toString("hex"), "file:" + Buffer.from("e").toString("hex")],
        [Buffer.from("link").toString("hex"), "link:" + b("caf\xe9").toString("hex")],
      ]),
    );
  }),
);

test(
  "an error line prints a name's non-UTF-8 bytes and control characters as \\xNN, on one line",
  withDir(async (dir) => {
    // A hard link to a missing target named `caf\xe9` + newline + an escape sequence.
    const tar = Buffer.concat([
      rawTarHeader("link", "1", 0, [[157, "caf\xe9\n\x1b[31mX"]]),
      Buffer.alloc(1024),
    ]);
    const out = join(dir, "out.sqfs");
    const r = await runCli(["squashfs", "-", "-o", out], { stdin: Readable.from([tar]) });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      'gvmconv: error [E_SQUASHFS_HARDLINK_TARGET_MISSING]: hard link "link": target "caf\\xe9\\x0a\\x1b[31mX" does not exist\n',
    );
  }),
);

test("printableText escapes what a terminal would act on, and leaves the rest", () => {
  assert.equal(printableText("plain é \\ 😀"), "plain é \\ 😀");
  assert.equal(
    printableText(`a${decodeName(Buffer.from([0xe9]))}\n\x1b\u0085`),
    "a\\xe9\\x0a\\x1b\\xc2\\x85",
  );
});
