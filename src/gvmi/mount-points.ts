/**
 * Mount points: what the Golem VM's init needs in the image, and what a container export carries.
 *
 * ya-runtime-vm's init (runtime/init-container/src/init.c) mounts proc on /proc, sysfs on /sys,
 * devtmpfs on /dev, tmpfs on /tmp, devpts and shm under /dev, and writes /etc/hosts and
 * /etc/resolv.conf. It creates /dev and /tmp itself but not /proc, /sys or /etc: an image from
 * `FROM scratch` without them dies at boot.
 *
 * gvmkit-build never hit this: it exports a created container, and every container carries
 * Docker's init layer (moby `daemon/initlayer/setup_unix.go`): the directories /proc, /sys,
 * /dev/pts and /dev/shm, the empty files /.dockerenv, /etc/hosts, /etc/hostname,
 * /etc/resolv.conf and /dev/console, and the symlink /etc/mtab → /proc/mounts, all root-owned,
 * made 0755 under dockerd's umask 022 (missing parents too). Images users built with it have
 * them, so we add the same where the image lacks them — plus /tmp, which the init layer does not
 * make, with the mode every Linux root has (1777: in case init's tmpfs mount is ever skipped).
 * The files stay empty, as the init layer leaves them: the VM's init writes hosts and resolv.conf.
 *
 * Where the image has something at one of these paths (even a symlink or a file where we would
 * put a directory), it is left alone: replacing it is the image author's decision, not ours. Nor
 * is anything added under a parent that is not a directory (an /etc that is a symlink).
 */
import type { Entry, EntryType } from "../squashfs/index.js";

export type MountPoint =
  | { path: string; type: "directory"; mode: number }
  | { path: string; type: "file"; mode: number }
  | { path: string; type: "symlink"; target: string };

/** Every mount point, parents before children (the order they are added in). */
export const MOUNT_POINTS: readonly MountPoint[] = [
  { path: ".dockerenv", type: "file", mode: 0o755 },
  { path: "dev", type: "directory", mode: 0o755 },
  { path: "dev/console", type: "file", mode: 0o755 },
  { path: "dev/pts", type: "directory", mode: 0o755 },
  { path: "dev/shm", type: "directory", mode: 0o755 },
  { path: "etc", type: "directory", mode: 0o755 },
  { path: "etc/hostname", type: "file", mode: 0o755 },
  { path: "etc/hosts", type: "file", mode: 0o755 },
  { path: "etc/mtab", type: "symlink", target: "/proc/mounts" },
  { path: "etc/resolv.conf", type: "file", mode: 0o755 },
  { path: "proc", type: "directory", mode: 0o755 },
  { path: "sys", type: "directory", mode: 0o755 },
  { path: "tmp", type: "directory", mode: 0o1777 },
];

/** Top-level names that hold mount points below them. */
const PARENTS = new Set(MOUNT_POINTS.filter((m) => m.path.includes("/")).map((m) => m.path.split("/")[0]!));
const PATHS = new Set(MOUNT_POINTS.map((m) => m.path));

/**
 * What the merged tree has at the mount-point paths, noted as entries stream by: a Map lookup per
 * entry and at most one entry per mount point held, instead of keeping every path of the image.
 * An entry below a path makes that path a directory (the writer creates missing parents, and
 * turns a non-directory in the way into one).
 */
export class MountPointScan {
  readonly #seen = new Map<string, EntryType>();

  /** Note one entry of the merged tree (image paths as the writer takes them: `etc/hosts`). */
  note(path: string, type: EntryType): void {
    const slash = path.indexOf("/");
    if (slash === -1) {
      if (PATHS.has(path)) this.#seen.set(path, type);
      return;
    }
    const top = path.slice(0, slash);
    if (!PATHS.has(top)) return;
    this.#seen.set(top, "directory");
    if (!PARENTS.has(top)) return;
    const second = path.indexOf("/", slash + 1);
    if (second === -1) {
      if (PATHS.has(path)) this.#seen.set(path, type);
    } else {
      const sub = path.slice(0, second);
      if (PATHS.has(sub)) this.#seen.set(sub, "directory");
    }
  }

  /** The type at `path` in the merged tree, if anything is there. */
  typeAt(path: string): EntryType | undefined {
    return this.#seen.get(path.replace(/^\/+/, "").replace(/\/+$/, ""));
  }
}

export interface MountPointsResult {
  /** Entries to add to the tree (root-owned), parents first. */
  entries: Entry[];
  /** Image paths added, e.g. `/proc`, `/etc/hosts`, for reporting. */
  added: string[];
}

/**
 * The entries for the mount points the image lacks. `present` is a scan of the merged tree, or
 * (for callers that only know names) the paths that exist, taken as directories.
 */
export function missingMountPoints(
  present: MountPointScan | Iterable<string>,
  options: { mtime?: number } = {},
): MountPointsResult {
  const scan = present instanceof MountPointScan ? present : scanOf(present);
  const mtime = options.mtime ?? 0;
  const attrs = (mode: number) => ({ mode, uid: 0, gid: 0, mtime });
  const entries: Entry[] = [];
  const added: string[] = [];
  const addedDirs = new Set<string>();
  for (const m of MOUNT_POINTS) {
    if (scan.typeAt(m.path) !== undefined) continue;
    const slash = m.path.indexOf("/");
    if (slash !== -1) {
      const parent = m.path.slice(0, slash);
      if (scan.typeAt(parent) !== "directory" && !addedDirs.has(parent)) continue;
    }
    if (m.type === "directory") {
      entries.push({ type: "directory", path: m.path, attrs: attrs(m.mode) });
      addedDirs.add(m.path);
    } else if (m.type === "file") {
      entries.push({ type: "file", path: m.path, attrs: attrs(m.mode), size: 0, content: new Uint8Array(0) });
    } else {
      entries.push({ type: "symlink", path: m.path, attrs: attrs(0o777), target: m.target });
    }
    added.push("/" + m.path);
  }
  return { entries, added };
}

function scanOf(paths: Iterable<string>): MountPointScan {
  const scan = new MountPointScan();
  for (const p of paths) {
    const path = p.replace(/^\/+/, "").replace(/\/+$/, "");
    scan.note(path, "directory");
  }
  return scan;
}
