/**
 * The in-memory tree the writer builds from entries arriving in any order (../entry.ts contract),
 * kept apart from the serializer (after squashfs-tools-ng's fstree). It holds metadata only:
 * a file node keeps the FileLayout the data path returned, never the bytes.
 *
 * Hard links are kept as path references until `resolve()`, which runs against the final tree:
 * a later entry that replaces the target (or the link) wins, as it would on a real filesystem
 * after extraction. After resolution every link slot holds the very node object of its target,
 * so node identity is inode identity, and `linkTargets` lists the nodes that are reached twice.
 */
import type { EntryAttrs } from "../entry.js";
import type { FileLayout } from "../format/data-layout.js";
import {
  SquashfsBadPathError,
  SquashfsHardlinkTargetMissingError,
  SquashfsHardlinkToDirectoryError,
  SquashfsNameTooLongError,
} from "../errors.js";
import { MAX_NAME_BYTES } from "../format/directory.js";
import { nameByteLength } from "../../byte-names.js";

export interface DirNode {
  kind: "dir";
  attrs: EntryAttrs;
  children: Map<string, TreeNode>;
}
export interface FileNode {
  kind: "file";
  attrs: EntryAttrs;
  layout: FileLayout;
}
export interface SymlinkNode {
  kind: "symlink";
  attrs: EntryAttrs;
  target: string;
}
export interface DeviceNode {
  kind: "char-device" | "block-device";
  attrs: EntryAttrs;
  major: number;
  minor: number;
}
export interface IpcNode {
  kind: "fifo" | "socket";
  attrs: EntryAttrs;
}
/** An unresolved hard link (only before `resolve()`). */
export interface LinkNode {
  kind: "hardlink";
  target: string;
  path: string;
}

export type InodeNode = DirNode | FileNode | SymlinkNode | DeviceNode | IpcNode;
export type TreeNode = InodeNode | LinkNode;

/** Splits a normalized image path into its components, refusing what the contract forbids. */
export function splitPath(path: string): string[] {
  if (path === "") return [];
  const parts = path.split("/");
  for (const p of parts) {
    if (p === "" || p === "." || p === "..")
      throw new SquashfsBadPathError(path, "empty, '.' or '..' component");
    if (p.includes("\0")) throw new SquashfsBadPathError(path, "NUL byte in name");
    // A UTF-16 code unit is at most 3 bytes, so short names need no count (and no encoding:
    // this runs for every component of every entry).
    if (p.length * 3 > MAX_NAME_BYTES) {
      const bytes = nameByteLength(p);
      if (bytes > MAX_NAME_BYTES) throw new SquashfsNameTooLongError(path, bytes);
    }
  }
  return parts;
}

/**
 * A copy of `name` that holds no reference to the string it was cut from. `path.split` cuts names
 * of 13 characters or more as slices of the path, so every such name kept in the tree kept its
 * whole path alive (V8 sliced strings); a UTF-16 round trip copies any string exactly (escaped
 * bytes are lone surrogates, which UTF-8 would not keep).
 */
function ownName(name: string): string {
  return name.length < 13 ? name : Buffer.from(name, "utf16le").toString("utf16le");
}

/** At most this many distinct attribute sets are shared (see `#shared`); more are kept as given. */
const MAX_SHARED_ATTRS = 4096;

export class FsTree {
  readonly root: DirNode;
  readonly #implicitAttrs: () => EntryAttrs;
  /**
   * One object per distinct (mode, uid, gid, mtime) without xattrs: the trees of small files this
   * is for (node_modules, site-packages) repeat a few sets, and an object per entry was ~60 bytes
   * of each entry's memory. mode → mtime → "uid:gid" → attrs. Bounded: past MAX_SHARED_ATTRS sets,
   * new ones are not remembered (the tree stays correct, only less compact).
   */
  readonly #sharedAttrs = new Map<number, Map<number, Map<string, EntryAttrs>>>();
  #sharedAttrsCount = 0;
  #links = 0;
  readonly #linkTargets = new Set<InodeNode>();

  /** `implicitAttrs` gives the attributes of directories created for missing parents. */
  constructor(implicitAttrs: () => EntryAttrs) {
    this.#implicitAttrs = implicitAttrs;
    this.root = { kind: "dir", attrs: implicitAttrs(), children: new Map() };
  }

  /** The directory that holds `parts`' last component, creating missing (or replacing non-dir) parents. */
  #parentOf(parts: readonly string[]): DirNode {
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i]!;
      const child = dir.children.get(name);
      if (child !== undefined && child.kind === "dir") {
        dir = child;
      } else {
        // A missing parent, or a non-directory in the way: as tar extraction does, the path
        // becomes a directory.
        const made: DirNode = { kind: "dir", attrs: this.#implicitAttrs(), children: new Map() };
        dir.children.set(child === undefined ? ownName(name) : name, made);
        dir = made;
      }
    }
    return dir;
  }

  /** Places a directory; an existing directory keeps its children and takes the new attributes. */
  setDirectory(path: string, attrs: EntryAttrs): void {
    const parts = splitPath(path);
    if (parts.length === 0) {
      this.root.attrs = attrs;
      return;
    }
    const parent = this.#parentOf(parts);
    const name = parts[parts.length - 1]!;
    const existing = parent.children.get(name);
    if (existing !== undefined && existing.kind === "dir") existing.attrs = this.#share(attrs);
    else
      parent.children.set(existing === undefined ? ownName(name) : name, {
        kind: "dir",
        attrs: this.#share(attrs),
        children: new Map(),
      });
  }

  /** Places a non-directory, replacing whatever was at `path` (a directory with its subtree). */
  setNode(path: string, node: Exclude<TreeNode, DirNode>): void {
    const parts = splitPath(path);
    if (parts.length === 0) throw new SquashfsBadPathError(path, "the root must be a directory");
    const parent = this.#parentOf(parts);
    const name = parts[parts.length - 1]!;
    if (node.kind !== "hardlink") node.attrs = this.#share(node.attrs);
    parent.children.set(parent.children.has(name) ? name : ownName(name), node);
    if (node.kind === "hardlink") this.#links++;
  }

  /** The shared object equal to `attrs` (without xattrs), or `attrs` itself. */
  #share(attrs: EntryAttrs): EntryAttrs {
    if (attrs.xattrs !== undefined) return attrs;
    let byMtime = this.#sharedAttrs.get(attrs.mode);
    let byIds = byMtime?.get(attrs.mtime);
    const ids = `${attrs.uid}:${attrs.gid}`;
    const known = byIds?.get(ids);
    if (known !== undefined) return known;
    if (this.#sharedAttrsCount >= MAX_SHARED_ATTRS) return attrs;
    if (byMtime === undefined) this.#sharedAttrs.set(attrs.mode, (byMtime = new Map()));
    if (byIds === undefined) byMtime.set(attrs.mtime, (byIds = new Map()));
    const own: EntryAttrs = { mode: attrs.mode, uid: attrs.uid, gid: attrs.gid, mtime: attrs.mtime };
    byIds.set(ids, own);
    this.#sharedAttrsCount++;
    return own;
  }

  /** Checks a path the way setNode would, without changing the tree (used before writing data). */
  checkPath(path: string): void {
    if (splitPath(path).length === 0) throw new SquashfsBadPathError(path, "the root must be a directory");
  }

  #lookup(path: string): TreeNode | undefined {
    let node: TreeNode = this.root;
    for (const name of splitPath(path)) {
      if (node.kind !== "dir") return undefined;
      const next: TreeNode | undefined = node.children.get(name);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  /**
   * The nodes `resolve()` put at more than one path (each hard link's target): the only nodes that
   * are reached twice, so the serializer keeps link counts for these alone.
   */
  get linkTargets(): ReadonlySet<InodeNode> {
    return this.#linkTargets;
  }

  /** Replaces every hard link by its target's node. Throws on a missing or directory target. */
  resolve(): void {
    if (this.#links === 0) return;
    const resolving = new Set<LinkNode>();
    const final = new Map<LinkNode, InodeNode>();
    // Follows a chain of links to the inode at its end, in a loop (a chain may be long).
    const target = (first: LinkNode): InodeNode => {
      const chain: LinkNode[] = [];
      let link = first;
      let node: InodeNode;
      for (;;) {
        const done = final.get(link);
        if (done !== undefined) {
          node = done;
          break;
        }
        if (resolving.has(link))
          throw new SquashfsHardlinkTargetMissingError(link.path, link.target, "is a hard link cycle");
        resolving.add(link);
        chain.push(link);
        let found: TreeNode | undefined;
        try {
          found = this.#lookup(link.target);
        } catch {
          found = undefined;
        }
        if (found === undefined) throw new SquashfsHardlinkTargetMissingError(link.path, link.target);
        if (found.kind === "hardlink") {
          link = found;
          continue;
        }
        if (found.kind === "dir") throw new SquashfsHardlinkToDirectoryError(link.path, link.target);
        node = found;
        break;
      }
      for (const l of chain) final.set(l, node);
      return node;
    };
    // An explicit stack: a tree may be thousands of levels deep.
    const dirs: DirNode[] = [this.root];
    for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
      for (const [name, child] of dir.children) {
        if (child.kind === "hardlink") {
          const node = target(child);
          dir.children.set(name, node);
          this.#linkTargets.add(node);
        } else if (child.kind === "dir") dirs.push(child);
      }
    }
    this.#links = 0;
  }
}
