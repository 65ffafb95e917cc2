import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { MOUNT_POINTS, MountPointScan, missingMountPoints } from "../../src/gvmi/mount-points.js";
import type { Entry } from "../../src/squashfs/index.js";
import { assembleImage, tmp, writeLayout } from "../oci/helpers.js";
import { runCli } from "../support/cli-run.js";
import { packTar, type Member } from "../support/tar.js";

/** Docker's init layer (moby daemon/initlayer/setup_unix.go), plus /tmp: what an export carries. */
const ALL = [
  "/.dockerenv",
  "/dev",
  "/dev/console",
  "/dev/pts",
  "/dev/shm",
  "/etc",
  "/etc/hostname",
  "/etc/hosts",
  "/etc/mtab",
  "/etc/resolv.conf",
  "/proc",
  "/sys",
  "/tmp",
];

function scan(entries: [string, Entry["type"]][]): MountPointScan {
  const s = new MountPointScan();
  for (const [p, t] of entries) s.note(p, t);
  return s;
}

test("a scratch image gets every init-layer entry, with the init layer's types and modes", () => {
  const { entries, added } = missingMountPoints(scan([["app", "file"]]), { mtime: 1700000000 });
  assert.deepEqual(added, ALL);
  const shape = Object.fromEntries(
    entries.map((e) => [
      e.path,
      e.type === "symlink"
        ? `symlink ${e.target}`
        : e.type === "file"
          ? `file ${e.attrs.mode.toString(8)} ${e.size}`
          : `${e.type} ${e.type === "directory" ? e.attrs.mode.toString(8) : ""}`,
    ]),
  );
  assert.deepEqual(shape, {
    ".dockerenv": "file 755 0",
    dev: "directory 755",
    "dev/console": "file 755 0",
    "dev/pts": "directory 755",
    "dev/shm": "directory 755",
    etc: "directory 755",
    "etc/hostname": "file 755 0",
    "etc/hosts": "file 755 0",
    "etc/mtab": "symlink /proc/mounts",
    "etc/resolv.conf": "file 755 0",
    proc: "directory 755",
    sys: "directory 755",
    tmp: "directory 1777",
  });
  for (const e of entries) {
    assert.ok("attrs" in e);
    assert.deepEqual([e.attrs.uid, e.attrs.gid, e.attrs.mtime], [0, 0, 1700000000]);
  }
  // Parents come before their children, so the writer never invents one with other attributes.
  const order = entries.map((e) => e.path);
  assert.ok(order.indexOf("etc") < order.indexOf("etc/hosts"));
  assert.ok(order.indexOf("dev") < order.indexOf("dev/pts"));
});

test("what the image has is kept, whatever its type; nothing is added under a non-directory", () => {
  const s = scan([
    ["etc", "symlink"], // /etc → elsewhere: nothing goes under it
    ["dev", "directory"],
    ["dev/shm", "symlink"],
    ["proc", "file"],
  ]);
  const { added } = missingMountPoints(s);
  assert.deepEqual(added, ["/.dockerenv", "/dev/console", "/dev/pts", "/sys", "/tmp"]);
});

test("a path below a mount point makes its parents directories (as the writer does)", () => {
  // A layer with etc/hosts and usr/bin/x but no entry for etc itself.
  const s = scan([
    ["etc/hosts", "file"],
    ["etc/ssl/certs/ca.pem", "file"],
    ["dev/pts/0", "char-device"],
    ["usr/bin/x", "file"],
  ]);
  assert.equal(s.typeAt("etc"), "directory");
  assert.equal(s.typeAt("/etc/hosts"), "file");
  assert.equal(s.typeAt("dev/pts"), "directory");
  assert.equal(s.typeAt("usr"), undefined, "only mount-point paths are held");
  const { added } = missingMountPoints(s);
  assert.equal(added.includes("/etc"), false);
  assert.equal(added.includes("/etc/hosts"), false);
  assert.equal(added.includes("/dev/pts"), false);
  assert.ok(added.includes("/etc/resolv.conf") && added.includes("/dev/shm"));
});

test("names alone (with or without slashes) count as directories", () => {
  const { added } = missingMountPoints(["/etc", "proc/", "sys", "dev", "tmp", "usr", ".dockerenv"]);
  assert.deepEqual(
    added,
    ALL.filter((p) => p.split("/").length === 3),
  );
  assert.equal(MOUNT_POINTS.length, ALL.length);
});

// --- Through the whole CLI, read back by unsquashfs and `gvmconv ls` -------------------------

let work = "";
before(async () => {
  work = await tmp("gvmconv-mount-points-");
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const hasUnsquashfs = (() => {
  try {
    execFileSync("unsquashfs", ["-help"], { stdio: "ignore" });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ENOENT";
  }
})();

async function layout(name: string, members: Member[]): Promise<string> {
  const image = assembleImage([{ tar: await packTar(members), compression: "gzip" }], {
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/app"], Volumes: { "/data": {} } },
  });
  const dir = join(work, name);
  await writeLayout(dir, [{ kind: "image", ref: "latest", image }]);
  return `oci:${dir}:latest`;
}

/** `unsquashfs -lln` lines by path: "<mode string> <uid>/<gid> <size> … <path>[ -> target]". */
function listing(gvmi: string): Map<string, string> {
  const out = execFileSync("unsquashfs", ["-lln", "-d", "", gvmi], { encoding: "utf8" });
  const map = new Map<string, string>();
  for (const line of out.split("\n")) {
    const m = /^(\S+) (\d+\/\d+)\s+(\d+) \S+ \S+ (\/\S*)(?: -> (\S+))?$/.exec(line);
    if (m) map.set(m[4]!, `${m[1]} ${m[2]} ${m[3]}${m[5] !== undefined ? ` -> ${m[5]}` : ""}`);
  }
  return map;
}

test("FROM scratch through the CLI: every entry, read back by unsquashfs -lln and gvmconv ls", async (t) => {
  if (!hasUnsquashfs) return t.skip("unsquashfs not installed");
  const source = await layout("scratch", [
    { header: { name: "app", mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) }, body: "#!/bin/sh\n" },
  ]);
  const out = join(work, "scratch.gvmi");
  const r = await runCli([source, "-o", out, "--mkfs-time", "0"], { env: { HOME: work } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`added mount points[^\\n]*: ${ALL.join(", ")}\\n`));

  const l = listing(out);
  const want: Record<string, string> = {
    "/.dockerenv": "-rwxr-xr-x 0/0 0",
    "/dev/console": "-rwxr-xr-x 0/0 0",
    "/etc/hostname": "-rwxr-xr-x 0/0 0",
    "/etc/hosts": "-rwxr-xr-x 0/0 0",
    "/etc/resolv.conf": "-rwxr-xr-x 0/0 0",
    "/etc/mtab": "lrwxrwxrwx 0/0 12 -> /proc/mounts",
    "/tmp": "drwxrwxrwt 0/0",
  };
  for (const dir of ["/dev", "/dev/pts", "/dev/shm", "/etc", "/proc", "/sys"]) want[dir] = "drwxr-xr-x 0/0";
  for (const [path, line] of Object.entries(want)) {
    const got = l.get(path);
    assert.ok(got !== undefined, `${path} missing from unsquashfs -lln`);
    // Directory sizes are the listing's, not ours to pin.
    assert.equal(line.startsWith("d") ? got.replace(/ \d+$/, "") : got, line, path);
  }

  const ls = await runCli(["ls", out, "/etc", "-l"], { env: { HOME: work } });
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^lrwxrwxrwx 1 0 0 12 \S+ \S+ mtab -> \/proc\/mounts$/m);
  assert.match(ls.stdout, /^-rwxr-xr-x 1 0 0 0 \S+ \S+ hosts$/m);
  const root = await runCli(["ls", out], { env: { HOME: work } });
  assert.equal(root.stdout, ".dockerenv\napp\ndev\netc\nproc\nsys\ntmp\n");
});

test("an image with its own /etc/hosts keeps it; only what it lacks is added", async (t) => {
  if (!hasUnsquashfs) return t.skip("unsquashfs not installed");
  const hosts = "127.0.0.1 localhost mine\n";
  const source = await layout("own-hosts", [
    { header: { name: "etc/", type: "directory", mode: 0o700, uid: 0, gid: 0, mtime: new Date(0) } },
    { header: { name: "etc/hosts", mode: 0o600, uid: 0, gid: 0, mtime: new Date(0) }, body: hosts },
    { header: { name: "proc/", type: "directory", mode: 0o555, uid: 0, gid: 0, mtime: new Date(0) } },
  ]);
  const out = join(work, "own-hosts.gvmi");
  const r = await runCli([source, "-o", out, "--mkfs-time", "0"], { env: { HOME: work } });
  assert.equal(r.code, 0, r.stderr);
  const cat = await runCli(["cat", out, "/etc/hosts"], { env: { HOME: work } });
  assert.equal(cat.stdout, hosts);
  const l = listing(out);
  assert.equal(l.get("/etc/hosts"), `-rw------- 0/0 ${hosts.length}`);
  assert.match(l.get("/etc")!, /^drwx------ 0\/0/);
  assert.match(l.get("/proc")!, /^dr-xr-xr-x 0\/0/);
  assert.equal(l.get("/etc/hostname"), "-rwxr-xr-x 0/0 0");
  assert.doesNotMatch(r.stderr, /\/etc\/hosts|\/proc[,\n]|\/etc[,\n]/);
});
