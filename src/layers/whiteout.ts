/**
 * Whiteout names (OCI image-spec `layer.md`, "Whiteouts"), inherited from AUFS.
 *
 * - `DIR/.wh.NAME` deletes `DIR/NAME` and its subtree from the layers BELOW the one holding it.
 * - `DIR/.wh..wh..opq` (opaque whiteout) hides every lower child of `DIR`, whatever its position
 *   in the layer's tar.
 * - Any other name starting with `.wh..wh.` is AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`,
 *   `.wh..wh.orph`) and is ignored together with whatever lies under it.
 *
 * A name beginning with `.wh.` can therefore never be a real file in an image.
 */

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";
const AUFS_META_PREFIX = ".wh..wh.";

/** What an image path means once whiteout names are taken into account. */
export type WhiteoutKind =
  /** An ordinary path: no component is a whiteout name. */
  | { kind: "none" }
  /** `.wh.NAME`: removes `target` (= dirname + NAME) from lower layers. */
  | { kind: "whiteout"; target: string }
  /** `.wh..wh..opq`: hides all lower children of `dir` ("" is the root). */
  | { kind: "opaque"; dir: string }
  /** AUFS metadata (`.wh..wh.*`), or something under such a directory: ignore silently. */
  | { kind: "aufs-meta" }
  /**
   * Unusable: `.wh.` with an empty, `.` or `..` NAME (which would otherwise white out the
   * directory itself or its parent), or a path under a directory named `.wh.*`.
   */
  | { kind: "invalid"; reason: string };

/** Classifies a normalized image path ('/'-separated, no `.`/`..` components). */
export function classifyWhiteout(path: string): WhiteoutKind {
  if (!path.includes(WHITEOUT_PREFIX)) return { kind: "none" }; // fast path: almost every entry
  const parts = path.split("/");
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) {
    const part = parts[i] as string;
    if (part.startsWith(AUFS_META_PREFIX)) return { kind: "aufs-meta" };
    if (part.startsWith(WHITEOUT_PREFIX)) {
      return { kind: "invalid", reason: `a parent directory is named '${part}', a whiteout name` };
    }
  }
  const base = parts[last] as string;
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: "none" };
  const dir = parts.slice(0, last).join("/");
  if (base === OPAQUE_WHITEOUT) return { kind: "opaque", dir };
  if (base.startsWith(AUFS_META_PREFIX)) return { kind: "aufs-meta" };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === "" || name === "." || name === "..") {
    return { kind: "invalid", reason: `'${base}' names no removable entry` };
  }
  return { kind: "whiteout", target: dir === "" ? name : `${dir}/${name}` };
}
