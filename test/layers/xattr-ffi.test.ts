/**
 * libc's llistxattr/lgetxattr through koffi (src/layers/xattr-ffi.ts), on real files: names and
 * values byte for byte, paths that are not UTF-8, a symlink's own attributes, the
 * /proc/self/fd/N/… paths the walk uses below PATH_MAX, and the walk and the image built from it.
 * The attributes are set with lsetxattr (test/support/set-xattr.ts), also through libc.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemXattrs, xattrFailure, XATTR_SIZE_MAX, type XattrCalls } from "../../src/layers/xattr-ffi.js";
import { readDirectory } from "../../src/layers/directory-source.js";
import { buildSquashfs } from "../../src/api/squashfs.js";
import { SquashfsReader } from "../../src/squashfs/index.js";
import { decodeName } from "../../src/byte-names.js";
import { CollectingReporter } from "../../src/reporter.js";
import { aclGivingUserRead, setXattr } from "../support/set-xattr.js";

const isRoot = process.getuid?.() === 0;
const all = (): boolean => true;

function calls(): XattrCalls {
  const c = systemXattrs();
  assert.ok(c, `libc's xattr calls did not load: ${xattrFailure()}`);
  return c;
}

/** `read`'s answer as name → hex (null stays null), in name order. */
function hex(found: Array<[string, Uint8Array | null]>): Record<string, string | null> {
  return Object.fromEntries(
    found
      .map(([k, v]): [string, string | null] => [k, v === null ? null : Buffer.from(v).toString("hex")])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

function withDir(run: (dir: string) => Promise<void> | void, base = tmpdir()) {
  return async () => {
    const dir = mkdtempSync(join(base, "gvmconv-xattr-"));
    try {
      await run(dir);
    } finally {
      // rm walks relative to open directories; a recursive rmSync would hit PATH_MAX.
      execFileSync("rm", ["-rf", dir]);
    }
  };
}

test("libc's xattr calls load (Linux, glibc or musl)", () => {
  assert.match(calls().library, /^libc\./);
});

test(
  "names and values come back byte for byte, for a path and a name that are not UTF-8",
  withDir((dir) => {
    const file = Buffer.concat([Buffer.from(join(dir, "caf")), Buffer.of(0xe9)]);
    writeFileSync(file, "x");
    const big = Buffer.alloc(3000, 0xab); // past the first buffer: it grows
    setXattr(file, "user.bin", Buffer.of(0, 0xff, 0x0a, 0));
    setXattr(file, "user.empty", "");
    setXattr(file, "user.big", big);
    setXattr(file, Buffer.concat([Buffer.from("user.n"), Buffer.of(0xe9)]), "latin1");
    // The path as a view followed by other bytes, as a C string would never be: the call must
    // end it with its own NUL.
    const path = Buffer.concat([file, Buffer.from("-not-this")]).subarray(0, file.length);
    const found = calls().read(path, all);
    assert.deepEqual(hex(found), {
      "user.big": big.toString("hex"),
      "user.bin": "00ff0a00",
      "user.empty": "",
      [decodeName(Buffer.from("user.n\xe9", "latin1"))]: Buffer.from("latin1").toString("hex"),
    });
    // Values are copies: reading another file does not change them.
    const bin = found.find(([k]) => k === "user.bin")![1]!;
    writeFileSync(join(dir, "other"), "y");
    setXattr(join(dir, "other"), "user.bin", Buffer.of(1, 2, 3, 4));
    assert.deepEqual(hex(calls().read(join(dir, "other"), all)), { "user.bin": "01020304" });
    assert.equal(Buffer.from(bin).toString("hex"), "00ff0a00");
  }),
);

test(
  "a name `wanted` declines is listed with no value read",
  withDir((dir) => {
    const file = join(dir, "f");
    writeFileSync(file, "x");
    setXattr(file, "user.keep", "1");
    setXattr(file, "user.skip", "2");
    assert.deepEqual(hex(calls().read(file, (n) => n !== "user.skip")), {
      "user.keep": "31",
      "user.skip": null,
    });
  }),
);

test(
  "a file without xattrs gives none, and a missing path is an ENOENT XattrCallError",
  withDir((dir) => {
    writeFileSync(join(dir, "plain"), "x");
    assert.deepEqual(calls().read(join(dir, "plain"), all), []);
    assert.throws(() => calls().read(join(dir, "missing"), all), {
      name: "XattrCallError",
      code: "ENOENT",
      syscall: "llistxattr",
    });
  }),
);

test(
  "a symlink's own xattrs are read, never its target's",
  withDir((dir) => {
    writeFileSync(join(dir, "target"), "x");
    setXattr(join(dir, "target"), "user.t", "target");
    symlinkSync("target", join(dir, "link"));
    // Linux allows user.* only on files and directories; trusted.* on anything, for root.
    if (isRoot) setXattr(join(dir, "link"), "trusted.l", "link");
    assert.deepEqual(hex(calls().read(join(dir, "link"), all)), isRoot ? { "trusted.l": "6c696e6b" } : {});
    assert.deepEqual(hex(calls().read(join(dir, "target"), all)), { "user.t": "746172676574" });
  }),
);

test(
  "a value of Linux's largest size is read, and paths through /proc/self/fd reach the file",
  withDir(
    (dir) => {
      mkdirSync(join(dir, "sub"));
      writeFileSync(join(dir, "sub/f"), "x");
      const max = Buffer.alloc(XATTR_SIZE_MAX, 7);
      max[0] = 1;
      max[XATTR_SIZE_MAX - 1] = 2;
      setXattr(join(dir, "sub/f"), "user.max", max);
      const fd = openSync(join(dir, "sub"), "r");
      try {
        const viaFd = calls().read(`/proc/self/fd/${fd}/f`, all);
        assert.deepEqual(hex(viaFd), { "user.max": max.toString("hex") });
      } finally {
        closeSync(fd);
      }
    },
    // tmpfs takes a 64 KiB value; ext4 keeps one in a block unless its ea_inode feature is on.
    existsSync("/dev/shm") ? "/dev/shm" : tmpdir(),
  ),
);

test(
  "the walk reads xattrs below PATH_MAX, 3,000 levels down, through the anchors it holds open",
  withDir(async (dir) => {
    const root = join(dir, "src");
    const cwd = process.cwd();
    try {
      mkdirSync(root);
      process.chdir(root);
      for (let i = 0; i < 3000; i++) {
        mkdirSync("d");
        process.chdir("d");
      }
      writeFileSync("file", "deep\n");
      setXattr("file", "user.deep", "bottom");
      setXattr(".", "user.level", "3000");
    } finally {
      process.chdir(cwd);
    }
    const seen = new Map<string, string>();
    for await (const e of readDirectory(root)) {
      if (e.type === "hardlink") continue;
      for (const [k, v] of e.attrs.xattrs ?? []) seen.set(`${e.path.length} ${k}`, Buffer.from(v).toString());
    }
    const bottom = "d/".repeat(3000).slice(0, -1);
    assert.deepEqual(Object.fromEntries(seen), {
      [`${bottom.length} user.level`]: "3000",
      [`${bottom.length + "/file".length} user.deep`]: "bottom",
    });
  }),
);

test(
  "an image from a directory holds the xattrs libc read: a Latin-1 name, binary values, a capability",
  withDir(async (dir) => {
    const src = join(dir, "src");
    mkdirSync(src);
    const latin1 = Buffer.concat([Buffer.from(join(src, "caf")), Buffer.of(0xe9)]);
    writeFileSync(latin1, "x");
    writeFileSync(join(src, "ping"), "y");
    symlinkSync("ping", join(src, "link"));
    setXattr(latin1, "user.a", Buffer.of(0, 0xff, 0x0a));
    setXattr(join(src, "ping"), "system.posix_acl_access", aclGivingUserRead(1234));
    if (isRoot) {
      setXattr(
        join(src, "ping"),
        "security.capability",
        Buffer.from("0100000200200000000000000000000000000000", "hex"),
      );
      setXattr(join(src, "link"), "trusted.l", "1");
      setXattr(src, "trusted.overlay.opaque", "y");
    }
    const reporter = new CollectingReporter();
    const image = join(dir, "out.sqfs");
    await buildSquashfs(src, image, { reporter, writer: { workers: 0 } });
    const reader = await SquashfsReader.open(image);
    try {
      const x = async (path: string) =>
        Object.fromEntries(
          [...(await reader.xattrs(await reader.lookup(path)))].map(([k, v]) => [
            k,
            Buffer.from(v).toString("hex"),
          ]),
        );
      assert.deepEqual(await x(`/${decodeName(Buffer.from("caf\xe9", "latin1"))}`), { "user.a": "00ff0a" });
      assert.deepEqual(
        await x("/ping"),
        isRoot ? { "security.capability": "0100000200200000000000000000000000000000" } : {},
      );
      assert.deepEqual(await x("/link"), isRoot ? { "trusted.l": "31" } : {});
      assert.deepEqual(await x("/"), isRoot ? { "trusted.overlay.opaque": "79" } : {});
    } finally {
      await reader.close();
    }
    // The ACL is system.*, which SquashFS cannot store: dropped, with one warning naming it.
    const dropped = reporter.warnings.filter((w) => w.code === "W_LAYER_XATTR_NAMESPACE");
    assert.equal(dropped.length, 1);
    assert.match(dropped[0]!.message, /'system\.'.*system\.posix_acl_access/);
  }),
);
