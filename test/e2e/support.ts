/**
 * Shared pieces of the end-to-end tests (not a test file): an image that exercises every
 * whiteout and tar-header case, written as OCI blobs; an independent filesystem walker; an
 * independent .gvmi trailer decoder; the real `unsquashfs`, `umoci` and `sha3sum`; a loopback
 * HTTP proxy that logs (and can corrupt) registry traffic; the CLI run in-process.
 *
 * Registry, layout and skopeo helpers come from test/oci/helpers.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli, type CliRun } from "../support/cli-run.js";
import { packTar, type Member } from "../support/tar.js";
import { assembleImage, type BuiltImage, type Compression } from "../oci/helpers.js";
import { type Walked } from "../support/tree-walk.js";
export { walk, type Walked } from "../support/tree-walk.js";

export const have = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** A reason to skip when a tool from scripts/test-deps.txt is missing, else false. */
export function missingTools(...cmds: string[]): string | false {
  const missing = cmds.filter((c) => !have(c));
  return missing.length > 0 ? `missing ${missing.join(", ")} (scripts/test-deps.txt)` : false;
}

export const isRoot = process.getuid?.() === 0;

/** The repository root (build/test/e2e/ → ../../../). */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

// ---------------------------------------------------------------------------------------------
// Layers

export { packTar, type Member };

type Headers = Member["header"];

const mtime = new Date(1_700_000_000_000);
const d = (name: string, mode = 0o755, extra: Partial<Headers> = {}): Member => ({
  header: { name: `${name}/`, type: "directory", mode, mtime, ...extra },
});
const f = (name: string, body: Buffer | string, mode = 0o644, extra: Partial<Headers> = {}): Member => ({
  header: { name, type: "file", mode, mtime, ...extra },
  body,
});
const wh = (name: string): Member => f(name, "");
const sym = (name: string, target: string): Member => ({
  header: { name, type: "symlink", linkname: target, mode: 0o777, mtime },
});
const hard = (name: string, target: string): Member => ({
  header: { name, type: "link", linkname: target, mode: 0o644, mtime },
});

/** `n` bytes of deterministic, incompressible data. */
export function noise(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash("sha256").update(seed).digest();
  for (let off = 0; off < n; off += block.length) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** A name longer than ustar's 100+155 split allows, so tar-stream must write a PAX `path`. */
export const LONG_DIR = "long-" + "d".repeat(120);
export const LONG_NAME = `${LONG_DIR}/` + "n".repeat(140);
/** vfs_cap_data v2 (magic 0x02000000 | effective), permitted = CAP_NET_BIND_SERVICE (bit 10). */
export const CAPABILITY = Buffer.from("0100000200040000000000000000000000000000", "hex");
/** 300 000 bytes: two full 128 KiB blocks and a tail (a fragment). */
export const BIG_SIZE = 300_000;

/** Layers BOTTOM first, as in the manifest: every whiteout case and header feature we handle. */
export function whiteoutLayers(): Member[][] {
  return [
    [
      d(".", 0o755),
      d("etc"),
      f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"),
      f("etc/group", "root:x:0:\napp:x:1001:\n"),
      f("etc/old", "whited out file"),
      f("etc/keep", "keep", 0o600, { uid: 1000, gid: 1001 }),
      d("bin"),
      f("bin/a", "A-old", 0o755),
      hard("bin/b", "bin/a"),
      hard("bin/c", "bin/a"),
      f("bin/su", "setuid", 0o4755),
      f("bin/wall", "setgid", 0o2755, { gid: 5 }),
      d("usr"),
      d("usr/share"),
      d("usr/share/doc"),
      d("usr/share/doc/pkg"),
      f("usr/share/doc/pkg/README", "whited-out directory"),
      d("opt"),
      d("opt/d", 0o700),
      f("opt/d/hidden", "hidden by the opaque marker"),
      d("opt/d/sub"),
      f("opt/d/sub/deep", "deep"),
      d("swap"),
      f("swap/inner", "a directory that becomes a file"),
      f("swapf", "a file that becomes a directory"),
      f("t", "t-old"),
      d("scratch", 0o1777),
      d("srv", 0o711, { uid: 33, gid: 33 }),
      f("srv/index", "i", 0o640, { uid: 33, gid: 33 }),
      f("big", noise(BIG_SIZE, "big-old")),
    ],
    [
      d("etc", 0o750),
      wh("etc/.wh.old"),
      f("etc/new", "new"),
      wh("usr/share/.wh.doc"),
      d("opt/d", 0o755),
      f("opt/d/fresh", "fresh"),
      wh("opt/d/.wh..wh..opq"),
      // The hard link's target is replaced by this layer: the link keeps the old content.
      f("bin/a", "A-new", 0o755),
      f("swap", "now a file"),
      d("swapf"),
      f("swapf/child", "child"),
      hard("l1", "t"),
      f("x-attr", "has xattrs", 0o644, {
        pax: { "SCHILY.xattr.user.x": "middle", "SCHILY.xattr.user.other": "2" },
      }),
      f("bin/ping", "capable", 0o755, {
        pax: { "SCHILY.xattr.security.capability": CAPABILITY.toString("latin1") },
      }),
      d(LONG_DIR, 0o755, { uid: 1000, gid: 1001 }),
      f(LONG_NAME, "long name", 0o644, { uid: 1000, gid: 1001 }),
      sym("link", "etc/new"),
      sym("dangling", "/nowhere/at/all"),
      f("empty", ""),
      f("big", noise(BIG_SIZE + 17, "big-new")),
      d("home"),
      d("home/app", 0o750, { uid: 1000, gid: 1001 }),
      f("home/app/.profile", "export X=1\n", 0o644, { uid: 65534, gid: 65534 }),
    ],
    [
      wh(".wh.t"),
      f("x-attr", "replaced, xattrs too", 0o600, { pax: { "SCHILY.xattr.user.x": "top" } }),
      d("usr/share", 0o755),
      f("usr/share/doc-after", "after whiteout"),
    ],
  ];
}

/** The runtime config the e2e image declares. */
export const IMAGE_CONFIG = {
  Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello world"],
  Entrypoint: ["/bin/sh", "-c"],
  Cmd: ["echo $GREETING"],
  WorkingDir: "/srv",
  Volumes: { "/data": {}, "/golem/output": {} },
  User: "app",
};

/** Blobs of one image in the shape test/oci/helpers.ts `writeLayout` takes. */
export function imageFromTars(
  tars: Buffer[],
  compression: Compression,
  opts: { architecture?: string; config?: Record<string, unknown> } = {},
): BuiltImage {
  return assembleImage(
    tars.map((tar) => ({ tar, compression })),
    {
      created: "2024-01-01T00:00:00Z",
      architecture: opts.architecture ?? "amd64",
      os: "linux",
      config: opts.config ?? IMAGE_CONFIG,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Independent readers

export interface GvmiTrailer {
  squashfsSize: number;
  crc: number;
  json: string;
  config: Record<string, unknown>;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The trailer as ya-runtime-vm deploy.rs reads it: the last 8 bytes are the JSON length in
 * ASCII decimal; before the JSON, its CRC32 (IEEE) as u32 LE. Written here from the format, not
 * from src/gvmi.
 */
export function decodeGvmi(file: Buffer): GvmiTrailer {
  const lenText = file.subarray(file.length - 8).toString("latin1");
  assert.match(lenText, /^[0-9]{8}$/, "length field: 8 ASCII digits");
  const length = Number(lenText);
  const jsonStart = file.length - 8 - length;
  const crc = file.readUInt32LE(jsonStart - 4);
  const json = file.subarray(jsonStart, file.length - 8);
  assert.equal(crc32(json), crc, "CRC32 of the JSON");
  const text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  return {
    squashfsSize: jsonStart - 4,
    crc,
    json: text,
    config: JSON.parse(text) as Record<string, unknown>,
  };
}

/** `sha3sum -a 224 FILE` (Debian libdigest-sha3-perl). */
export function sha3sum(file: string): string {
  const r = spawnSync("sha3sum", ["-a", "224", file], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const hex = r.stdout.split(/\s+/)[0] ?? "";
  assert.match(hex, /^[0-9a-f]{56}$/);
  return hex;
}

export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Extract a .gvmi (or plain SquashFS) with the real unsquashfs. */
export function unsquashfs(file: string, dir: string): void {
  mkdirSync(dirname(dir), { recursive: true });
  run("unsquashfs", ["-no-progress", "-d", dir, file]);
}

/**
 * The owner umoci --rootless records in `user.rootlesscontainers` (rootlesscontainers.proto:
 * `uint32 uid = 1; uint32 gid = 2;`, 0xFFFFFFFF = "no mapping", absent = 0). No xattr: root.
 */
export function rootlessOwner(hex: string): { uid: number; gid: number } {
  const owner = { uid: 0, gid: 0 };
  const b = Buffer.from(hex, "hex");
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = b[i++];
      assert.ok(byte !== undefined, "truncated varint");
      v += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return v;
    }
  };
  while (i < b.length) {
    const key = varint();
    assert.equal(key & 7, 0, "rootlesscontainers fields are varints");
    const value = varint();
    const id = value === 0xffffffff ? 0 : value;
    if (key >> 3 === 1) owner.uid = id;
    else if (key >> 3 === 2) owner.gid = id;
  }
  return owner;
}

/** For each path, the sorted paths sharing its inode when more than one, else "". */
export function linkGroups(tree: Map<string, Walked>): Map<string, string> {
  const byInode = new Map<number, string[]>();
  for (const [p, w] of tree) if (w.type === "file") byInode.set(w.ino, [...(byInode.get(w.ino) ?? []), p]);
  const out = new Map<string, string>();
  for (const paths of byInode.values()) {
    const key = paths.length > 1 ? paths.sort().join(",") : "";
    for (const p of paths) out.set(p, key);
  }
  return out;
}

/** A comparable view of a walked tree: everything but inode numbers (replaced by link groups). */
export function comparable(
  tree: Map<string, Walked>,
  opts: { owners: "stat" | "rootless" | "none"; xattrs: (name: string) => boolean; mtime?: boolean },
): Map<string, Record<string, unknown>> {
  const groups = linkGroups(tree);
  const out = new Map<string, Record<string, unknown>>();
  for (const [p, w] of tree) {
    const owner =
      opts.owners === "stat"
        ? { uid: w.uid, gid: w.gid }
        : opts.owners === "rootless"
          ? rootlessOwner(w.rootless)
          : {};
    const xattrs = Object.fromEntries(Object.entries(w.xattrs).filter(([k]) => opts.xattrs(k)));
    out.set(p, {
      type: w.type,
      mode: w.mode,
      size: w.size,
      data: w.data,
      links: groups.get(p) ?? "",
      xattrs,
      ...owner,
      ...(opts.mtime === true && w.type === "file" ? { mtime: w.mtime } : {}),
    });
  }
  return out;
}

/** Assert two comparable trees are equal path by path (a readable diff per path). */
export function assertSameTree(
  ours: Map<string, Record<string, unknown>>,
  theirs: Map<string, Record<string, unknown>>,
  what: string,
): void {
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${what}: same paths`);
  for (const [p, their] of theirs) assert.deepEqual(ours.get(p), their, `${what}: '${p}'`);
}

// ---------------------------------------------------------------------------------------------
// Loopback proxy and CLI

export interface ProxyLog {
  method: string;
  url: string;
}

export interface Proxy {
  host: string;
  log: ProxyLog[];
  /** Blob digests whose bytes are flipped on the way through. */
  corrupt: Set<string>;
  close(): Promise<void>;
}

/** An HTTP proxy on 127.0.0.1 in front of a registry, logging requests and corrupting chosen blobs. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const log: ProxyLog[] = [];
  const corrupt = new Set<string>();
  const server: Server = createServer((req, res) => {
    log.push({ method: req.method ?? "", url: req.url ?? "" });
    const flip = [...corrupt].some((dg) => req.url?.endsWith(`/blobs/${dg}`) === true);
    const headers = { ...req.headers, host: `127.0.0.1:${targetPort}` };
    const up = httpRequest(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        let first = true;
        ur.on("data", (c: Buffer) => {
          if (flip && first && c.length > 0) {
            c = Buffer.from(c);
            c[c.length >> 1] = (c[c.length >> 1] ?? 0) ^ 0xff;
          }
          first = false;
          res.write(c);
        });
        ur.on("end", () => res.end());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    corrupt,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Blob GETs in a proxy log (manifests excluded). */
export const blobGets = (log: ProxyLog[]): ProxyLog[] =>
  log.filter((l) => l.method === "GET" && l.url.includes("/blobs/"));

export type { CliRun };

/** `gvmconv ARGV` in-process with PassThrough streams and exactly the given environment. */
export async function cli(argv: string[], env: Record<string, string | undefined>): Promise<CliRun> {
  return await runCli(argv, { env });
}

/** The file's sha256 (hex). */
export const sha256File = (path: string): string =>
  createHash("sha256").update(readFileSync(path)).digest("hex");
