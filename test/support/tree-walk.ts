/**
 * An independent view of a tree on disk, for comparing what we write with what an oracle
 * (umoci unpack, unsquashfs) produced: a small python walker (not our code) lstats every path,
 * hashes files and reads all xattrs. Shared by the layer-merge and end-to-end tests.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

export interface Walked {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** sha256 of a file's content, a symlink's target. */
  data: string;
  ino: number;
  mtime: number;
  /** Every xattr but `user.rootlesscontainers`, values in hex. */
  xattrs: Record<string, string>;
  /** umoci --rootless's record of the real owner (protobuf), hex, or "". */
  rootless: string;
}

/** An independent walker (python): lstat every path, hash files, read all xattrs. */
const WALKER = `
import hashlib, json, os, stat, sys
root = sys.argv[1]
out = {}
for dirpath, dirnames, filenames in os.walk(root):
    for name in [""] + dirnames + filenames:
        if name == "" and dirpath != root: continue
        p = os.path.join(dirpath, name) if name else dirpath
        rel = os.path.relpath(p, root)
        rel = "" if rel == "." else rel
        st = os.lstat(p)
        m = st.st_mode
        kind = "directory" if stat.S_ISDIR(m) else "file" if stat.S_ISREG(m) else "symlink" if stat.S_ISLNK(m) else "other"
        data = ""
        if kind == "file":
            data = hashlib.sha256(open(p, "rb").read()).hexdigest()
        elif kind == "symlink":
            data = os.readlink(p)
        xattrs = {}
        rootless = ""
        for k in os.listxattr(p, follow_symlinks=False):
            v = os.getxattr(p, k, follow_symlinks=False).hex()
            if k == "user.rootlesscontainers": rootless = v
            else: xattrs[k] = v
        out[rel] = dict(type=kind, mode=stat.S_IMODE(m), uid=st.st_uid, gid=st.st_gid,
                        size=st.st_size if kind == "file" else 0, data=data, ino=st.st_ino,
                        mtime=int(st.st_mtime), xattrs=xattrs, rootless=rootless)
json.dump(out, sys.stdout)
`;

export function walk(root: string): Map<string, Walked> {
  const r = spawnSync("python3", ["-c", WALKER, root], { encoding: "utf8", maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `tree walk of ${root}: ${r.stderr}`);
  const out = r.stdout;
  return new Map(Object.entries(JSON.parse(out) as Record<string, Walked>));
}
