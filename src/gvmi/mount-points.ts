/**
 * Directories the Golem VM's init needs in the image.
 *
 * ya-runtime-vm's init (runtime/init-container/src/init.c) mounts proc on /proc, sysfs on /sys,
 * devtmpfs on /dev and tmpfs on /tmp, and writes /etc/hosts and /etc/resolv.conf. It creates /dev
 * and /tmp itself but not /proc, /sys or /etc: an image from `FROM scratch` without them dies at boot.
 * gvmkit-build never hit this because `docker export` adds Docker's init layer (/proc, /sys, /dev,
 * /etc). We add all five the way a container export does: Docker's init layer makes /proc, /sys,
 * /dev and /etc root-owned 0755; it adds no /tmp, so /tmp gets the mode every Linux root has
 * (1777: world-writable and sticky, in case init's tmpfs mount is ever skipped).
 */
import type { Entry } from "../squashfs/index.js";

/** Top-level directory → permission bits. */
export const REQUIRED_MOUNT_POINTS: ReadonlyArray<readonly [name: string, mode: number]> = [
  ["dev", 0o755],
  ["etc", 0o755],
  ["proc", 0o755],
  ["sys", 0o755],
  ["tmp", 0o1777],
];

export interface MountPointsResult {
  /** Directory entries to add to the tree (root-owned). */
  entries: Entry[];
  /** Image paths added, e.g. `/proc`, for reporting. */
  added: string[];
}

/**
 * Given the names present at the top of the merged tree (`"etc"`, `"usr"`, or `"/etc"`), return
 * directory entries for the missing mount points. Anything present at a name (even a symlink or a
 * file) is left alone: replacing it is the image author's decision, not ours.
 */
export function missingMountPoints(
  present: Iterable<string>,
  options: { mtime?: number } = {},
): MountPointsResult {
  const have = new Set<string>();
  for (const p of present) have.add(p.replace(/^\/+/, "").replace(/\/+$/, ""));
  const mtime = options.mtime ?? 0;
  const entries: Entry[] = [];
  const added: string[] = [];
  for (const [name, mode] of REQUIRED_MOUNT_POINTS) {
    if (have.has(name)) continue;
    entries.push({ type: "directory", path: name, attrs: { mode, uid: 0, gid: 0, mtime } });
    added.push("/" + name);
  }
  return { entries, added };
}
