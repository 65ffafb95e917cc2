import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDirectory, splitRdev, type ReadDirectoryOptions } from "../../src/layers/directory-source.js";
import { CollectingReporter } from "../../src/reporter.js";
import type { Entry } from "../../src/squashfs/index.js";
import { aclGivingUserRead, setXattr } from "../support/set-xattr.js";
import { outcomeWithin } from "../support/outcome.js";

const isRoot = process.getuid?.() === 0;
const haveSetfattr = spawnSync("setfattr", ["--version"]).status === 0;

async function collect(
  root: string,
  reporter = new CollectingReporter(),
  xattrReader?: ReadDirectoryOptions["xattrReader"],
) {
  const entries: Entry[] = [];
  const contents = new Map<string, string>();
  for await (const e of readDirectory(root, { reporter, xattrReader })) {
    entries.push(e);
    if (e.type === "file") {
      const parts: Uint8Array[] = [];
      // Copied: the walk reuses its buffers (FileContent's contract).
      if (e.content instanceof Uint8Array) parts.push(Buffer.from(e.content));
      else for await (const c of e.content) parts.push(Buffer.from(c));
      contents.set(e.path, Buffer.concat(parts).toString());
    }
  }
  return { entries, contents };
}

function withTree(build: (root: string) => void, run: (root: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-dir-"));
    try {
      build(dir);
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test("splitRdev decodes Linux dev_t", () => {
  assert.deepEqual(splitRdev(0x0103n), { major: 1, minor: 3 });
  assert.deepEqual(splitRdev(0x0801n), { major: 8, minor: 1 });
  // major 300, minor 70000: both overflow the old 8-bit fields
  const rdev = (70000n & 0xffn) | ((300n & 0xfffn) << 8n) | ((70000n & ~0xffn) << 12n);
  assert.deepEqual(splitRdev(rdev), { major: 300, minor: 70000 });
});

test(
  "walks a tree in sorted order with attributes, links and content",
  withTree(
    (root) => {
      mkdirSync(join(root, "b/sub"), { recursive: true });
      writeFileSync(join(root, "b/z.txt"), "zed");
      writeFileSync(join(root, "a.txt"), "hello");
      chmodSync(join(root, "a.txt"), 0o4750);
      linkSync(join(root, "a.txt"), join(root, "b/hard"));
      linkSync(join(root, "a.txt"), join(root, "c-hard"));
      symlinkSync("../a.txt", join(root, "b/sym"));
      execFileSync("mkfifo", [join(root, "fifo")]);
      if (isRoot) {
        execFileSync("mknod", [join(root, "null"), "c", "1", "3"]);
        chownSync(join(root, "b/z.txt"), 1234, 5678);
      }
      utimesSync(join(root, "b/z.txt"), 1_600_000_000, 1_600_000_000);
    },
    async (root) => {
      const { entries, contents } = await collect(root);
      assert.deepEqual(
        entries.map((e) => `${e.type} ${e.path}`),
        [
          "directory ",
          "file a.txt",
          "directory b",
          "hardlink b/hard",
          "directory b/sub",
          "symlink b/sym",
          "file b/z.txt",
          "hardlink c-hard",
          "fifo fifo",
          ...(isRoot ? ["char-device null"] : []),
        ],
      );
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.deepEqual(byPath.get("b/hard"), { type: "hardlink", path: "b/hard", target: "a.txt" });
      const a = byPath.get("a.txt");
      assert.ok(a?.type === "file");
      assert.equal(a.attrs.mode, 0o4750);
      assert.equal(a.size, 5);
      const sym = byPath.get("b/sym");
      assert.ok(sym?.type === "symlink" && sym.target === "../a.txt");
      const z = byPath.get("b/z.txt");
      assert.ok(z?.type === "file");
      assert.equal(z.attrs.mtime, 1_600_000_000);
      if (isRoot) {
        assert.equal(z.attrs.uid, 1234);
        assert.equal(z.attrs.gid, 5678);
        assert.deepEqual(byPath.get("null"), { ...byPath.get("null"), major: 1, minor: 3 });
      }
      assert.deepEqual(Object.fromEntries(contents), { "a.txt": "hello", "b/z.txt": "zed" });
    },
  ),
);

test(
  "xattrs come from libc's calls and from getfattr alike; namespaces SquashFS cannot store are dropped with one warning",
  { skip: !haveSetfattr && "setfattr (Debian attr) not installed" },
  withTree(
    (root) => {
      writeFileSync(join(root, "ping"), "x");
      writeFileSync(join(root, "odd name\nwith newline é"), "y");
      symlinkSync("ping", join(root, "link"));
      execFileSync("setfattr", [
        "-n",
        "security.capability",
        "-v",
        "0x0100000200200000000000000000000000000000",
        join(root, "ping"),
      ]);
      execFileSync("setfattr", ["-n", "user.a", "-v", "0x00ff0a", join(root, "odd name\nwith newline é")]);
      execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", root]);
      // An ACL is system.posix_acl_access, which SquashFS cannot store (as `setfacl -m u:1234:r`).
      setXattr(join(root, "ping"), "system.posix_acl_access", aclGivingUserRead(1234));
      setXattr(join(root, "odd name\nwith newline é"), "system.posix_acl_access", aclGivingUserRead(99));
    },
    async (root) => {
      const seen: string[] = [];
      for (const reader of ["libc", "getfattr"] as const) {
        const reporter = new CollectingReporter();
        const { entries } = await collect(root, reporter, reader);
        const xattrs = (path: string) => {
          const e = entries.find((x) => x.path === path);
          const map = e && e.type !== "hardlink" ? e.attrs.xattrs : undefined;
          return Object.fromEntries([...(map ?? [])].map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
        };
        assert.deepEqual(xattrs(""), { "trusted.overlay.opaque": "79" }, reader);
        assert.deepEqual(xattrs("ping"), {
          "security.capability": "0100000200200000000000000000000000000000",
        });
        assert.deepEqual(xattrs("odd name\nwith newline é"), { "user.a": "00ff0a" }, reader);
        assert.deepEqual(xattrs("link"), {}, reader);
        const dropped = reporter.warnings.filter((w) => w.code === "W_LAYER_XATTR_NAMESPACE");
        assert.deepEqual(
          dropped.map((w) => w.path),
          ["odd name\nwith newline é"],
          `${reader}: one warning for the namespace, at its first path in walk order`,
        );
        seen.push(
          JSON.stringify(
            entries.map((e) => [e.path, e.type === "hardlink" ? null : [...(e.attrs.xattrs ?? [])]]),
          ),
        );
      }
      assert.equal(seen[0], seen[1], "both readers give the same entries");
    },
  ),
);

test(
  "a getfattr killed by a signal fails the walk with one error that names the signal",
  withTree(
    (root) => {
      writeFileSync(join(root, "a"), "x");
      // A getfattr that answers, closes its output and is killed: exitCode stays null.
      mkdirSync(join(root, "bin"));
      writeFileSync(
        join(root, "bin", "getfattr"),
        '#!/bin/sh\necho "# file: x"\nexec 1>&- 2>&-\nkill -9 $$\n',
        { mode: 0o755 },
      );
    },
    async (root) => {
      const path = process.env["PATH"];
      process.env["PATH"] = `${join(root, "bin")}:${path ?? ""}`;
      try {
        const outcome = await outcomeWithin(
          collect(root, new CollectingReporter(), "getfattr"),
          5000,
          () => "walked",
          (err) => `${(err as { code?: string }).code}: ${(err as Error).message}`,
        );
        assert.match(outcome, /^E_INPUT_READ: .*getfattr failed \(killed by SIGKILL\)/);
      } finally {
        process.env["PATH"] = path;
      }
    },
  ),
);

test(
  "a file that changes size while read is an E_INPUT_READ error",
  // Above the read-whole threshold (128 KiB), so the content is read after the change.
  withTree(
    (root) => writeFileSync(join(root, "f"), Buffer.alloc(2 * 1024 * 1024, 1)),
    async (root) => {
      await assert.rejects(
        (async () => {
          for await (const e of readDirectory(root)) {
            if (e.type !== "file") continue;
            writeFileSync(join(root, "f"), "123");
            for await (const _ of e.content as AsyncIterable<Uint8Array>);
          }
        })(),
        { code: "E_INPUT_READ" },
      );
    },
  ),
);

test(
  "a larger file is read in pieces, each valid until the next, and one that grows while read is an E_INPUT_READ error",
  withTree(
    (root) => {
      const bytes = Buffer.alloc(3 * 131072 + 5);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 17)) & 0xff;
      writeFileSync(join(root, "big"), bytes);
      writeFileSync(join(root, "grows"), Buffer.alloc(131072 + 1, 2));
    },
    async (root) => {
      const want = Buffer.alloc(3 * 131072 + 5);
      for (let i = 0; i < want.length; i++) want[i] = (i * 7 + (i >> 17)) & 0xff;
      let grew: unknown = null;
      for await (const e of readDirectory(root)) {
        if (e.type !== "file") continue;
        assert.ok(!(e.content instanceof Uint8Array), `${e.path}: read when iterated`);
        if (e.path === "big") {
          const pieces: Buffer[] = [];
          for await (const c of e.content as AsyncIterable<Uint8Array>) pieces.push(Buffer.from(c));
          assert.deepEqual(
            pieces.map((p) => p.length),
            [131072, 131072, 131072, 5],
          );
          assert.ok(Buffer.concat(pieces).equals(want));
        } else {
          writeFileSync(join(root, "grows"), Buffer.alloc(3 * 131072, 2));
          try {
            for await (const _ of e.content as AsyncIterable<Uint8Array>);
          } catch (err) {
            grew = err;
          }
        }
      }
      assert.equal((grew as { code?: string } | null)?.code, "E_INPUT_READ");
      assert.match((grew as Error).message, /grows changed size while being read \(131073 → \d+\+ bytes\)/);
    },
  ),
);

test(
  "small files are read whole, in order, and a walk left early stops cleanly",
  withTree(
    (root) => {
      for (let i = 0; i < 1500; i++) writeFileSync(join(root, `f${String(i).padStart(4, "0")}`), `file ${i}`);
    },
    async (root) => {
      let i = 0;
      for await (const e of readDirectory(root)) {
        if (e.type !== "file") continue;
        assert.ok(e.content instanceof Uint8Array, "small file content is in hand");
        assert.equal(Buffer.from(e.content).toString(), `file ${i}`);
        assert.equal(e.path, `f${String(i).padStart(4, "0")}`);
        i++;
      }
      assert.equal(i, 1500);
      // Breaking out early must not leave anything open or reject unhandled.
      for await (const e of readDirectory(root)) if (e.type === "file") break;
    },
  ),
);

// A small file is read with one call when that call returns exactly the size lstat gave, so the
// size checks rest on reads that return more or less than lstat said. The kernel's own files do
// both, every time: sysfs attributes stat as 4096 bytes and read as a few, procfs ones stat as 0.
for (const [root, seen] of [
  ["/sys/kernel", /\(4096 → \d+ bytes\)/],
  ["/proc/sys/kernel", /\(0 → 1\+ bytes\)/],
] as const) {
  test(
    `a small file that reads shorter or longer than its lstat size is an E_INPUT_READ error (${root})`,
    { skip: existsSync(root) ? false : `${root} is not mounted` },
    async () => {
      await assert.rejects(collect(root), (err: Error & { code?: string }) => {
        assert.equal(err.code, "E_INPUT_READ");
        assert.match(err.message, /changed size while being read/);
        assert.match(err.message, seen);
        return true;
      });
    },
  );
}

test("a missing root is an E_INPUT_READ error", async () => {
  await assert.rejects(collect("/nonexistent/gvmconv"), { code: "E_INPUT_READ" });
});

test(
  "names are walked in byte order, ASCII-only directories and mixed ones alike",
  withTree(
    (root) => {
      // ASCII only (read as strings), then names whose UTF-16 order is not their UTF-8 byte order
      // (U+FF5E sorts after U+1F600's surrogates in UTF-16, before its bytes in UTF-8).
      mkdirSync(join(root, "ascii"));
      mkdirSync(join(root, "mixed"));
      for (const name of ["b", "B", "a-1", "a", "~", "_x", "0"])
        writeFileSync(join(root, "ascii", name), name);
      for (const name of ["z", "\uff5e", "\u{1f600}", "é", "A", "e"])
        writeFileSync(join(root, "mixed", name), name);
    },
    async (root) => {
      const { entries } = await collect(root);
      for (const dir of ["ascii", "mixed"]) {
        const walked = entries
          .filter((e) => e.path.startsWith(`${dir}/`))
          .map((e) => e.path.slice(dir.length + 1));
        const byBytes = [...walked].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual(walked, byBytes, dir);
        assert.equal(walked.length, dir === "ascii" ? 7 : 6);
      }
    },
  ),
);
