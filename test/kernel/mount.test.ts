/**
 * The reader that matters is the Linux kernel: boot Debian's kernel under QEMU (TCG, no KVM)
 * with a tiny initramfs (busybox-static, the virtio and squashfs modules, getfattr), attach each
 * image as a read-only virtio disk, mount it, walk it, and compare what the kernel shows with the
 * source tree. One boot checks every image. mksquashfs images go through the same walk as a
 * control, so a harness fault is not mistaken for a writer fault.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSquashfs } from "../../src/squashfs/index.js";
import { readDirectory, readTar } from "../../src/layers/index.js";
import { cpioNewc, type CpioMember } from "./cpio.js";

const MODULE_ORDER = [
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
  "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
  "kernel/drivers/virtio/virtio_pci.ko",
  "kernel/drivers/block/virtio_blk.ko",
  "kernel/fs/squashfs/squashfs.ko",
];

/**
 * The decompressors squashfs's lzo and lz4 support call into (lib/lzo, lib/lz4). Debian's 6.1
 * config builds both into the kernel (CONFIG_LZO_DECOMPRESS=y, CONFIG_LZ4_DECOMPRESS=y, with
 * CONFIG_SQUASHFS_LZO=y and CONFIG_SQUASHFS_LZ4=y); a kernel that builds them as modules gets
 * them loaded before squashfs.ko.
 */
const DECOMPRESSOR_MODULES: Record<string, string> = {
  CONFIG_LZO_DECOMPRESS: "kernel/lib/lzo/lzo_decompress.ko",
  CONFIG_LZ4_DECOMPRESS: "kernel/lib/lz4/lz4_decompress.ko",
};
/** squashfs's compressor options: without one, its images cannot be mounted at all. */
const SQUASHFS_COMPRESSORS = [
  "CONFIG_SQUASHFS_ZLIB",
  "CONFIG_SQUASHFS_XZ",
  "CONFIG_SQUASHFS_LZO",
  "CONFIG_SQUASHFS_LZ4",
];

interface Kernel {
  vmlinuz: string;
  modulesDir: string;
  /** Modules to insmod, in order. */
  modules: string[];
}

function findKernel(): Kernel | string {
  if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0)
    return "qemu-system-x86_64 (qemu-system-x86) not installed";
  if (!existsSync("/bin/busybox")) return "busybox (busybox-static) not installed";
  if (spawnSync("mksquashfs", ["-version"]).status === null)
    return "mksquashfs (squashfs-tools) not installed";
  const vmlinuz = readdirSync("/boot")
    .filter((n) => n.startsWith("vmlinuz-"))
    .sort()
    .pop();
  if (!vmlinuz) return "no /boot/vmlinuz-* (linux-image-amd64) installed";
  const version = vmlinuz.slice("vmlinuz-".length);
  const modulesDir = `/lib/modules/${version}`;
  const modules = [...MODULE_ORDER];
  const configPath = `/boot/config-${version}`;
  if (!existsSync(configPath)) return `${configPath} not found (the kernel's build configuration)`;
  const config = readFileSync(configPath, "utf8");
  const setting = (name: string): string | undefined => new RegExp(`^${name}=(\\w+)$`, "m").exec(config)?.[1];
  for (const option of SQUASHFS_COMPRESSORS)
    if (setting(option) !== "y") return `the kernel is built without ${option}`;
  for (const [option, module] of Object.entries(DECOMPRESSOR_MODULES)) {
    const value = setting(option);
    if (value === "m") modules.splice(modules.length - 1, 0, module);
    else if (value !== "y") return `the kernel is built without ${option}`;
  }
  for (const m of modules) {
    // Debian 12 ships modules uncompressed; later releases compress them (.ko.xz), which
    // busybox insmod cannot load: decompressing them here would be the fix.
    if (!existsSync(join(modulesDir, m))) return `kernel module ${m} not found under ${modulesDir}`;
  }
  return { vmlinuz: `/boot/${vmlinuz}`, modulesDir, modules };
}

const kernel = findKernel();
const haveXattrTools = spawnSync("setfattr", ["--version"]).status === 0 && existsSync("/usr/bin/getfattr");
const isRoot = process.getuid?.() === 0;

/** Long names so that the big directory's listing spans many 8 KiB index blocks. */
const BIG_DIR_ENTRIES = 2500;
function bigName(i: number): string {
  return `entry-${String(i).padStart(5, "0")}-${"x".repeat(100)}-${(i * 7919) % 1000}.txt`;
}
const LOOKUPS = [0, 1, 777, 1500, 2222, BIG_DIR_ENTRIES - 1].map((i) => `big/${bigName(i)}`);

/** The tree every image is made from: each feature the kernel must read. */
function buildTree(root: string): void {
  const t = 1_700_000_000;
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "big"));
  mkdirSync(join(root, "dev"));
  mkdirSync(join(root, "home/user/deep/er/still"), { recursive: true });
  writeFileSync(join(root, "etc/hostname"), "golem\n"); // a fragment
  writeFileSync(join(root, "etc/empty"), "");
  const random = Buffer.alloc(700_000);
  for (let i = 0; i < random.length; i++) random[i] = ((i * 2654435761) >>> 24) ^ (i & 0xff);
  writeFileSync(join(root, "home/user/blocks.bin"), random); // several blocks + a tail fragment
  writeFileSync(join(root, "home/user/exact.bin"), random.subarray(0, 131072 * 2)); // exactly 2 blocks
  writeFileSync(join(root, "home/user/deep/er/still/text"), "deep\n".repeat(5000));
  // Sparse: holes of whole blocks between data.
  const sparse = join(root, "home/user/sparse.img");
  writeFileSync(sparse, "start");
  truncateSync(sparse, 3 * 131072 + 4096);
  const fd = openSync(sparse, "r+");
  writeSync(fd, Buffer.from("middle"), 0, 6, 2 * 131072 + 10);
  closeSync(fd);
  writeFileSync(join(root, "home/user/zeros.img"), "");
  truncateSync(join(root, "home/user/zeros.img"), 5 * 131072); // all hole
  for (let i = 0; i < BIG_DIR_ENTRIES; i++) writeFileSync(join(root, "big", bigName(i)), `${i}\n`);
  writeFileSync(join(root, "bin-ping"), "not really ping\n");
  linkSync(join(root, "bin-ping"), join(root, "bin-ping-hard"));
  linkSync(join(root, "bin-ping"), join(root, "etc/ping-hard2"));
  symlinkSync("etc/hostname", join(root, "hostname-link"));
  symlinkSync("/nonexistent/" + "t".repeat(300), join(root, "dangling-long-link"));
  chmodSync(join(root, "bin-ping"), 0o4755);
  chmodSync(join(root, "home/user"), 0o700);
  chmodSync(join(root, "etc/hostname"), 0o640);
  if (isRoot) {
    execFileSync("mknod", [join(root, "dev/null"), "c", "1", "3"]);
    execFileSync("mknod", [join(root, "dev/sda1"), "b", "8", "1"]);
    execFileSync("mkfifo", [join(root, "dev/fifo")]);
    chownSync(join(root, "home/user"), 1000, 1000);
    chownSync(join(root, "home/user/blocks.bin"), 1000, 1000);
    chownSync(join(root, "etc/hostname"), 0, 65534);
  }
  if (haveXattrTools) {
    execFileSync("setfattr", [
      "-n",
      "security.capability",
      "-v",
      "0x0100000200200000000000000000000000000000",
      join(root, "bin-ping"),
    ]);
    execFileSync("setfattr", ["-n", "user.mime", "-v", "text/plain", join(root, "etc/hostname")]);
    execFileSync("setfattr", [
      "-n",
      "user.big",
      "-v",
      "0x" + "ab".repeat(3000),
      join(root, "home/user/blocks.bin"),
    ]);
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(root, "home")]);
  }
  // Deterministic mtimes, children before parents (writing a child changes its parent's mtime).
  const stamp = (dir: string, depth: number) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) stamp(p, depth + 1);
      const when = t + depth * 1000 + (name.length % 97);
      if (st.isSymbolicLink()) lutimesSync(p, when, when);
      else utimesSync(p, when, when);
    }
  };
  stamp(root, 1);
  utimesSync(root, t, t);
}

/** What `stat -c '%n|%f|%u|%g|%s|%h|%Y|%t|%T'` must print for each path (dir sizes differ by design). */
function expectedListing(root: string): { stat: string[]; links: string[]; md5: string[] } {
  const stat: string[] = [];
  const links: string[] = [];
  const md5: string[] = [];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs, { bigint: true });
    const dir = st.isDirectory();
    const dev = st.isCharacterDevice() || st.isBlockDevice();
    const major = dev ? ((st.rdev >> 8n) & 0xfffn).toString(16) : "0";
    const minor = dev ? (st.rdev & 0xffn).toString(16) : "0";
    stat.push(
      `${rel}|${st.mode.toString(16)}|${st.uid}|${st.gid}|${dir ? "*" : st.size}|${st.nlink}|${st.mtimeMs / 1000n}|${major}|${minor}`,
    );
    if (st.isSymbolicLink()) links.push(`${rel}|${readlinkSync(abs)}`);
    if (st.isFile()) md5.push(`${createHash("md5").update(readFileSync(abs)).digest("hex")}  ${rel}`);
    if (dir) for (const name of readdirSync(abs)) walk(join(abs, name), `${rel}/${name}`);
  };
  walk(root, ".");
  return { stat: stat.sort(), links: links.sort(), md5: md5.sort() };
}

/** getfattr's dump, one "path: name=value" line per attribute (order-independent). */
function parseGetfattr(text: string): string[] {
  const out: string[] = [];
  let file = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) file = line.slice(8);
    else if (line.includes("=")) out.push(`${file}: ${line}`);
  }
  return out.sort();
}

function initScript(devices: number, modules: string[]): string {
  const lookups = LOOKUPS.map((p) => `cat '${p}'; stat -c '%n|%s|%h' '${p}'`).join("\n    ");
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${modules.map((m) => `/modules/${m.split("/").pop()}`).join(" ")}; do insmod $m || echo "insmod $m failed"; done
sleep 1
exec >/dev/ttyS1 2>&1
echo "=== BOOTED"
dmesg -c >/dev/null
i=0
for d in ${Array.from({ length: devices }, (_, i) => `/dev/vd${String.fromCharCode(97 + i)}`).join(" ")}; do
  echo "=== IMAGE $i $d"
  mkdir -p /mnt/$i
  if mount -t squashfs -o ro $d /mnt/$i; then
    cd /mnt/$i
    echo "--- stat"
    find . -exec stat -c '%n|%f|%u|%g|%s|%h|%Y|%t|%T' {} +
    echo "--- links"
    find . -type l -exec sh -c 'for l; do echo "$l|$(readlink "$l")"; done' sh {} +
    echo "--- md5"
    find . -type f -exec md5sum {} +
    echo "--- hardlinks"
    stat -c '%i' bin-ping bin-ping-hard etc/ping-hard2
    echo "--- lookups"
    ${lookups}
    echo "--- xattrs"
    if [ -x /usr/bin/getfattr ]; then /usr/bin/getfattr -R -P -h -d -m - -e hex . ; fi
    cd /
    umount /mnt/$i
    echo "--- dmesg"
    dmesg -c
    echo "--- end"
  else
    echo "MOUNT FAILED"
  fi
  i=$((i+1))
done
echo "=== DMESG"
dmesg
echo "=== DONE"
sync
poweroff -f
`;
}

function buildInitramfs(k: Kernel, devices: number): Buffer {
  const members: CpioMember[] = [];
  for (const d of [
    "bin",
    "proc",
    "sys",
    "dev",
    "mnt",
    "modules",
    "usr",
    "usr/bin",
    "lib",
    "lib64",
    "lib/x86_64-linux-gnu",
  ]) {
    members.push({ path: d, type: "directory", mode: 0o755 });
  }
  members.push({ path: "bin/busybox", type: "file", mode: 0o755, data: readFileSync("/bin/busybox") });
  members.push({ path: "init", type: "file", mode: 0o755, data: initScript(devices, k.modules) });
  for (const m of k.modules) {
    members.push({
      path: `modules/${m.split("/").pop()}`,
      type: "file",
      mode: 0o644,
      data: readFileSync(join(k.modulesDir, m)),
    });
  }
  if (haveXattrTools) {
    // getfattr is dynamically linked against libc only (checked with ldd when writing this).
    members.push({
      path: "usr/bin/getfattr",
      type: "file",
      mode: 0o755,
      data: readFileSync("/usr/bin/getfattr"),
    });
    members.push({
      path: "lib/x86_64-linux-gnu/libc.so.6",
      type: "file",
      mode: 0o755,
      data: readFileSync("/lib/x86_64-linux-gnu/libc.so.6"),
    });
    members.push({
      path: "lib64/ld-linux-x86-64.so.2",
      type: "file",
      mode: 0o755,
      data: readFileSync("/lib64/ld-linux-x86-64.so.2"),
    });
  }
  return cpioNewc(members);
}

async function boot(k: Kernel, dir: string, images: string[]): Promise<{ results: string; console: string }> {
  const initrd = join(dir, "initrd.cpio");
  writeFileSync(initrd, buildInitramfs(k, images.length));
  const resultsPath = join(dir, "results.txt");
  const args = [
    "-accel",
    "tcg",
    "-m",
    "512",
    "-smp",
    "1",
    "-display",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
    "-net",
    "none",
    "-kernel",
    k.vmlinuz,
    "-initrd",
    initrd,
    "-append",
    "console=ttyS0 panic=-1 loglevel=4 rdinit=/init",
    // ttyS0: the console (stdio); ttyS1: the walk's results, kept apart from kernel messages.
    "-serial",
    "stdio",
    "-serial",
    `file:${resultsPath}`,
    ...images.flatMap((img) => ["-drive", `file=${img},format=raw,if=virtio,readonly=on`]),
  ];
  const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
  let console = "";
  qemu.stdout.on("data", (d: Buffer) => (console += d.toString("latin1")));
  qemu.stderr.on("data", (d: Buffer) => (console += d.toString("latin1")));
  // A guard against a hung guest, not a timing assertion.
  const guard = setTimeout(() => qemu.kill("SIGKILL"), 300_000);
  await new Promise((resolve) => qemu.once("close", resolve));
  clearTimeout(guard);
  return {
    results: existsSync(resultsPath) ? readFileSync(resultsPath, "latin1").replace(/\r/g, "") : "",
    console,
  };
}

function section(block: string, name: string): string {
  const start = block.indexOf(`--- ${name}\n`);
  if (start < 0) return "";
  const rest = block.slice(start + name.length + 5);
  const end = rest.indexOf("\n--- ");
  return end < 0 ? rest : rest.slice(0, end + 1);
}

/** Equal line sets, with a diff of just the differing lines (listings are thousands of lines long). */
function assertSameLines(actual: string[], expected: string[], what: string): void {
  const a = new Set(actual);
  const e = new Set(expected);
  const missing = expected.filter((l) => !a.has(l));
  const extra = actual.filter((l) => !e.has(l));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${what} differs from the source tree`);
  assert.equal(actual.length, expected.length, `${what}: duplicate lines`);
}

function kernelErrors(dmesg: string): string[] {
  return dmesg
    .split("\n")
    .filter((l) => /squashfs.*error|SQUASHFS error|I\/O error|Unable to read|EIO/i.test(l));
}

const lines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l !== "")
    .sort();

test(
  "the Linux kernel mounts and reads every image",
  { skip: typeof kernel === "string" && kernel },
  async (t) => {
    const k = kernel as Kernel;
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-kernel-"));
    try {
      const tree = join(dir, "tree");
      mkdirSync(tree);
      buildTree(tree);
      const expected = expectedListing(tree);
      const expectedXattrs = haveXattrTools
        ? parseGetfattr(
            execFileSync("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "."], {
              cwd: tree,
              encoding: "latin1",
            }),
          )
        : [];
      if (haveXattrTools)
        assert.equal(
          expectedXattrs.length,
          6,
          "the source tree carries its xattrs (bin-ping once per hard link)",
        );
      else t.diagnostic("setfattr/getfattr (attr) not installed: xattrs not checked");
      if (!isRoot) t.diagnostic("not root: device nodes and ownership not covered");

      const images: { label: string; path: string }[] = [];
      for (const [comp, extra] of [
        ["gzip", []],
        ["xz", []],
        ["lzo", []],
        ["lz4", ["-Xhc"]],
      ] as const) {
        const path = join(dir, `mksquashfs-${comp}.img`);
        execFileSync("mksquashfs", [
          tree,
          path,
          "-noappend",
          "-quiet",
          "-no-progress",
          "-comp",
          comp,
          "-b",
          "131072",
          "-processors",
          "2",
          ...extra,
        ]);
        images.push({ label: `mksquashfs ${comp} ${extra.join(" ")}`.trim(), path });
      }
      {
        for (const comp of ["gzip", "xz", "lzo", "lz4"] as const) {
          const path = join(dir, `gvmconv-${comp}.img`);
          await writeSquashfs(readDirectory(tree), path, { compression: comp, workers: 2 });
          images.push({ label: `gvmconv ${comp} (directory)`, path });
        }
        // gzip's two encoders: libdeflate (the default above, asked for by name so that a missing
        // library fails here) at level 12, which stores no options block, and Node's zlib.
        for (const [gzipBackend, level] of [
          ["libdeflate", 6],
          ["libdeflate", 12],
          ["zlib", 6],
        ] as const) {
          const path = join(dir, `gvmconv-gzip-${gzipBackend}-${level}.img`);
          await writeSquashfs(readDirectory(tree), path, {
            compression: "gzip",
            gzipBackend,
            level,
            workers: 2,
          });
          images.push({ label: `gvmconv gzip ${gzipBackend} level ${level} (directory)`, path });
        }
        // The other options blocks: lzo at a level other than 8, lz4 without HC.
        for (const [comp, level] of [
          ["lzo", 3],
          ["lz4", 0],
        ] as const) {
          const path = join(dir, `gvmconv-${comp}-${level}.img`);
          await writeSquashfs(readDirectory(tree), path, { compression: comp, level, workers: 2 });
          images.push({ label: `gvmconv ${comp} level ${level} (directory)`, path });
        }
        // The tar path too: GNU tar with pax xattrs → readTar → writer.
        const tarPath = join(dir, "tree.tar");
        execFileSync("tar", [
          "--xattrs",
          "--xattrs-include=*",
          "--format=posix",
          "--numeric-owner",
          "-C",
          tree,
          "-cf",
          tarPath,
          ".",
        ]);
        const path = join(dir, "gvmconv-tar.img");
        await writeSquashfs(readTar(createReadStream(tarPath)), path, { compression: "gzip", workers: 2 });
        images.push({ label: "gvmconv gzip (tar)", path });
      }

      const { results, console } = await boot(
        k,
        dir,
        images.map((i) => i.path),
      );
      assert.match(
        results,
        /=== DONE/,
        `the guest did not finish; console:\n${console.slice(-4000)}\nresults:\n${results.slice(-2000)}`,
      );

      const blocks = results.split("=== IMAGE ").slice(1);
      assert.equal(blocks.length, images.length);
      for (const [i, image] of images.entries()) {
        await t.test(image.label, () => {
          const block = blocks[i]!;
          assert.deepEqual(
            kernelErrors(section(block, "dmesg")),
            [],
            "kernel errors while reading this image",
          );
          assert.doesNotMatch(block, /MOUNT FAILED/);
          assert.doesNotMatch(block, /Input\/output error|can't open|No such file/);
          // A directory's size is its listing's size in that filesystem: not comparable.
          const stat = lines(section(block, "stat")).map((l) => {
            const f = l.split("|");
            if (f[1]?.startsWith("4")) f[4] = "*";
            return f.join("|");
          });
          assertSameLines(stat, expected.stat, "find/stat listing");
          assertSameLines(lines(section(block, "links")), expected.links, "symlink targets");
          assertSameLines(lines(section(block, "md5")), expected.md5, "file checksums");
          const inodes = lines(section(block, "hardlinks"));
          assert.equal(inodes.length, 3);
          assert.equal(new Set(inodes).size, 1, "hard links share one inode");
          const lookups = section(block, "lookups");
          // Lookups by name in the big directory go through its directory index.
          const found = lines(lookups).filter((l) => l.startsWith("big/"));
          assert.deepEqual(
            found,
            LOOKUPS.map((p) => `${p}|${String(Number(p.slice(10, 15))).length + 1}|1`).sort(),
          );
          if (haveXattrTools)
            assert.deepEqual(parseGetfattr(section(block, "xattrs")), expectedXattrs, "xattrs");
        });
      }
      // After the per-image checks, so that a failure names the image as well.
      const dmesg = results.slice(results.indexOf("=== DMESG"));
      assert.deepEqual(kernelErrors(dmesg), [], "kernel reported errors while reading the images");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
