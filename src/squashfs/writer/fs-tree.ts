/**
 * The in-memory tree the writer builds from entries arriving in any order (../entry.ts contract),
 * kept apart from the serializer (after squashfs-tools-ng's fstree). It holds metadata only: a
 * file node keeps the layout id the data path returned, never the bytes.
 *
 * Packed (issue 12: an image of a large node_modules or site-packages is hundreds of thousands of
 * entries, and an object, a Map entry and a string per entry was ~300 bytes of live heap each):
 * a node is an index into typed arrays, its name is UTF-8 bytes in one arena, and the directory
 * structure is one open-addressing table keyed by (parent, name bytes). About 45 bytes per entry.
 *
 * Replacing a directory by a non-directory (or the reverse) gives the path a new node, so the old
 * directory's children, still keyed under its index, are unreachable; a non-directory replaced by
 * a non-directory keeps its index. Hard links are kept as path references until `resolve()`, which
 * runs against the final tree: a later entry that replaces the target (or the link) wins, as it
 * would on a real filesystem after extraction. After it, a link node names its target's node
 * (`inodeOf`), so that node is the inode, and `linkTargets` lists the nodes reached twice.
 */
import type { EntryAttrs } from "../entry.js";
import {
  SquashfsBadPathError,
  SquashfsHardlinkTargetMissingError,
  SquashfsHardlinkToDirectoryError,
  SquashfsInternalError,
  SquashfsNameTooLongError,
} from "../errors.js";
import { MAX_NAME_BYTES } from "../format/directory.js";
import { decodeName, encodeName, nameByteLength } from "../../byte-names.js";

/** What a node is (`FsTree.kind`); 0 is a node replaced by another. */
export const NodeKind = {
  dead: 0,
  dir: 1,
  file: 2,
  symlink: 3,
  "char-device": 4,
  "block-device": 5,
  fifo: 6,
  socket: 7,
  /** An unresolved hard link before `resolve()`; a resolved one after (see `inodeOf`). */
  hardlink: 8,
} as const;
export type NodeKindName = Exclude<keyof typeof NodeKind, "dead">;
export type LeafKind = "file" | "symlink" | "char-device" | "block-device" | "fifo" | "socket";
const KIND_NAMES = [
  "dead",
  "dir",
  "file",
  "symlink",
  "char-device",
  "block-device",
  "fifo",
  "socket",
  "hardlink",
] as const;

/** The root's node index. */
export const ROOT = 0;

/** Splits a normalized image path into its components, refusing what the contract forbids. */
export function splitPath(path: string): string[] {
  if (path === "") return [];
  const parts = path.split("/");
  for (const p of parts) checkComponent(path, p);
  return parts;
}

function checkComponent(path: string, p: string): void {
  if (p === "" || p === "." || p === "..")
    throw new SquashfsBadPathError(path, "empty, '.' or '..' component");
  if (p.includes("\0")) throw new SquashfsBadPathError(path, "NUL byte in name");
  // A UTF-16 code unit is at most 3 bytes, so short names need no count (and no encoding).
  if (p.length * 3 > MAX_NAME_BYTES) {
    const bytes = nameByteLength(p);
    if (bytes > MAX_NAME_BYTES) throw new SquashfsNameTooLongError(path, bytes);
  }
}

/** At most this many distinct attribute sets are shared (see `#share`); more are kept one per node. */
const MAX_SHARED_ATTRS = 4096;

/** Grows a typed array to at least `min` elements (doubling), keeping its contents. */
function grown<T extends Uint8Array | Uint16Array | Uint32Array | Int32Array>(a: T, min: number): T {
  if (a.length >= min) return a;
  let n = Math.max(a.length * 2, 16);
  while (n < min) n *= 2;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/** FNV-1a over the name bytes, mixed with the parent index. */
function hashOf(parent: number, bytes: Uint8Array, start: number, end: number): number {
  let h = (0x811c9dc5 ^ Math.imul(parent, 0x9e3779b1)) >>> 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

const encoder = new TextEncoder();
/** Lone surrogates (escaped bytes, byte-names.ts) need encodeName; anything else is plain UTF-8. */
const SURROGATE = /[\ud800-\udfff]/;

export class FsTree {
  readonly #implicitAttrs: () => EntryAttrs;
  /** Node count (the next index); the root is node 0. */
  #count = 0;
  #kind = new Uint8Array(1024);
  #parent = new Int32Array(1024);
  /** Index into #attrs. */
  #attrIndex = new Uint32Array(1024);
  /** file: layout id; symlink: index into #targets; device: rdev; hardlink: link index, then the target's node. */
  #payload = new Uint32Array(1024);
  #nameStart = new Uint32Array(1024);
  #nameLength = new Uint16Array(1024);
  #hash = new Uint32Array(1024);
  /** Name bytes of every node, back to back. */
  #names = new Uint8Array(16384);
  #namesUsed = 0;
  /** (parent, name) → node + 1; 0 is an empty slot. Power-of-two size, at most half full. */
  #slots = new Int32Array(2048);
  #used = 0;
  readonly #attrs: EntryAttrs[] = [];
  /**
   * mode → mtime → "uid:gid" → index into #attrs, for attribute sets without xattrs: the trees of
   * small files this is for repeat a few sets. Bounded: past MAX_SHARED_ATTRS sets, new ones are
   * not remembered (the tree stays correct, only less compact).
   */
  readonly #sharedAttrs = new Map<number, Map<number, Map<string, number>>>();
  #sharedAttrsCount = 0;
  readonly #targets: string[] = [];
  readonly #links: { target: string; path: string }[] = [];
  #resolved = false;
  readonly #linkTargets = new Set<number>();
  /** The directory of the last path looked up, to skip the walk for its siblings. */
  #lastDir = "";
  #lastDirNode = ROOT;
  /** Children lists (built by `resolve()`): node i's children are #childList[#childStart[i] … #childStart[i + 1]). */
  #childStart: Int32Array | undefined;
  #childList: Int32Array | undefined;

  /** `implicitAttrs` gives the attributes of directories created for missing parents. */
  constructor(implicitAttrs: () => EntryAttrs) {
    this.#implicitAttrs = implicitAttrs;
    this.#newNode(-1, 0, 0, 0, NodeKind.dir, this.#share(implicitAttrs()));
  }

  // ── building ─────────────────────────────────────────────────────────────────────────────

  /** Places a directory; an existing directory keeps its children and takes the new attributes. */
  setDirectory(path: string, attrs: EntryAttrs): void {
    this.#mutable();
    if (path === "") {
      this.#attrIndex[ROOT] = this.#share(attrs);
      return;
    }
    const { parent, name } = this.#parentOf(path);
    const existing = this.#child(parent, name);
    if (existing >= 0 && this.#kind[existing] === NodeKind.dir)
      this.#attrIndex[existing] = this.#share(attrs);
    else this.#place(parent, name, existing, NodeKind.dir, this.#share(attrs), 0);
  }

  /** Places a regular file whose content the data writer stored as layout `layout`. */
  setFile(path: string, attrs: EntryAttrs, layout: number): void {
    this.#setLeaf(path, NodeKind.file, attrs, layout);
  }

  setSymlink(path: string, attrs: EntryAttrs, target: string): void {
    this.#setLeaf(path, NodeKind.symlink, attrs, this.#targets.push(target) - 1);
  }

  /** A device node; `rdev` as the inode stores it (format/inode.ts encodeDevice). */
  setDevice(path: string, kind: "char-device" | "block-device", attrs: EntryAttrs, rdev: number): void {
    this.#setLeaf(path, NodeKind[kind], attrs, rdev);
  }

  setIpc(path: string, kind: "fifo" | "socket", attrs: EntryAttrs): void {
    this.#setLeaf(path, NodeKind[kind], attrs, 0);
  }

  /** A hard link to the entry at `target` (an image path), resolved against the final tree. */
  setHardlink(path: string, target: string): void {
    this.#mutable();
    const index = this.#links.push({ target, path }) - 1;
    this.#placeLeaf(path, NodeKind.hardlink, 0, index);
  }

  /** Checks a path the way the setters would, without changing the tree (used before writing data). */
  checkPath(path: string): void {
    if (splitPath(path).length === 0) throw new SquashfsBadPathError(path, "the root must be a directory");
  }

  #setLeaf(path: string, kind: number, attrs: EntryAttrs, payload: number): void {
    this.#mutable();
    this.#placeLeaf(path, kind, this.#share(attrs), payload);
  }

  /** Places a non-directory, replacing whatever was at `path` (a directory with its subtree). */
  #placeLeaf(path: string, kind: number, attrIndex: number, payload: number): void {
    if (path === "") throw new SquashfsBadPathError(path, "the root must be a directory");
    const { parent, name } = this.#parentOf(path);
    const existing = this.#child(parent, name);
    if (existing >= 0 && this.#kind[existing] !== NodeKind.dir) {
      this.#kind[existing] = kind;
      this.#attrIndex[existing] = attrIndex;
      this.#payload[existing] = payload;
    } else this.#place(parent, name, existing, kind, attrIndex, payload);
  }

  #mutable(): void {
    if (this.#resolved) throw new SquashfsInternalError("the tree changed after resolve()");
  }

  /**
   * The directory that holds `path`'s last component, creating missing (or replacing non-dir)
   * parents, and that component as bytes. Checks every component (splitPath's rules).
   */
  #parentOf(path: string): { parent: number; name: Uint8Array } {
    const slash = path.lastIndexOf("/");
    const last = path.slice(slash + 1);
    checkComponent(path, last);
    const dirPath = slash < 0 ? "" : path.slice(0, slash);
    let dir: number;
    if (dirPath === this.#lastDir && this.#kind[this.#lastDirNode] === NodeKind.dir) {
      dir = this.#lastDirNode;
    } else {
      dir = ROOT;
      if (dirPath !== "") {
        for (const part of dirPath.split("/")) {
          checkComponent(path, part);
          const bytes = nameBytesOf(part);
          const child = this.#child(dir, bytes);
          if (child >= 0 && this.#kind[child] === NodeKind.dir) dir = child;
          // A missing parent, or a non-directory in the way: as tar extraction does, the path
          // becomes a directory.
          else dir = this.#place(dir, bytes, child, NodeKind.dir, this.#share(this.#implicitAttrs()), 0);
        }
      }
      this.#lastDir = dirPath;
      this.#lastDirNode = dir;
    }
    return { parent: dir, name: nameBytesOf(last) };
  }

  /** The node named `name` in `parent`, or -1. */
  #child(parent: number, name: Uint8Array): number {
    const h = hashOf(parent, name, 0, name.length);
    const mask = this.#slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = this.#slots[s]!;
      if (v === 0) return -1;
      const node = v - 1;
      if (this.#hash[node] === h && this.#parent[node] === parent && this.#nameEquals(node, name))
        return node;
    }
  }

  #nameEquals(node: number, name: Uint8Array): boolean {
    const n = this.#nameLength[node]!;
    if (n !== name.length) return false;
    const start = this.#nameStart[node]!;
    const names = this.#names;
    for (let i = 0; i < n; i++) if (names[start + i] !== name[i]) return false;
    return true;
  }

  /**
   * Puts a new node at (parent, name): in the place of `existing` (which becomes dead and keeps
   * its children out of reach) or in a new slot. Returns the new node.
   */
  #place(
    parent: number,
    name: Uint8Array,
    existing: number,
    kind: number,
    attrIndex: number,
    payload: number,
  ): number {
    if (existing >= 0) {
      const node = this.#newNode(
        parent,
        this.#nameStart[existing]!,
        name.length,
        this.#hash[existing]!,
        kind,
        attrIndex,
      );
      this.#payload[node] = payload;
      this.#kind[existing] = NodeKind.dead;
      const mask = this.#slots.length - 1;
      for (let s = this.#hash[existing]! & mask; ; s = (s + 1) & mask) {
        if (this.#slots[s] === existing + 1) {
          this.#slots[s] = node + 1;
          return node;
        }
      }
    }
    if (this.#namesUsed + name.length > this.#names.length)
      this.#names = grown(this.#names, this.#namesUsed + name.length);
    const start = this.#namesUsed;
    this.#names.set(name, start);
    this.#namesUsed += name.length;
    const node = this.#newNode(
      parent,
      start,
      name.length,
      hashOf(parent, name, 0, name.length),
      kind,
      attrIndex,
    );
    this.#payload[node] = payload;
    if ((this.#used + 1) * 2 > this.#slots.length) this.#rehash(this.#slots.length * 2);
    this.#insertSlot(node);
    this.#used++;
    return node;
  }

  #insertSlot(node: number): void {
    const mask = this.#slots.length - 1;
    let s = this.#hash[node]! & mask;
    while (this.#slots[s] !== 0) s = (s + 1) & mask;
    this.#slots[s] = node + 1;
  }

  #rehash(size: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(size);
    for (const v of old) if (v !== 0) this.#insertSlot(v - 1);
  }

  #newNode(
    parent: number,
    nameStart: number,
    nameLength: number,
    hash: number,
    kind: number,
    attrIndex: number,
  ): number {
    const node = this.#count++;
    if (node >= this.#kind.length) {
      const n = node + 1;
      this.#kind = grown(this.#kind, n);
      this.#parent = grown(this.#parent, n);
      this.#attrIndex = grown(this.#attrIndex, n);
      this.#payload = grown(this.#payload, n);
      this.#nameStart = grown(this.#nameStart, n);
      this.#nameLength = grown(this.#nameLength, n);
      this.#hash = grown(this.#hash, n);
    }
    this.#kind[node] = kind;
    this.#parent[node] = parent;
    this.#attrIndex[node] = attrIndex;
    this.#payload[node] = 0;
    this.#nameStart[node] = nameStart;
    this.#nameLength[node] = nameLength;
    this.#hash[node] = hash;
    return node;
  }

  /** The index of the shared attribute set equal to `attrs` (without xattrs), or of `attrs` itself. */
  #share(attrs: EntryAttrs): number {
    if (attrs.xattrs !== undefined) return this.#attrs.push(attrs) - 1;
    let byMtime = this.#sharedAttrs.get(attrs.mode);
    let byIds = byMtime?.get(attrs.mtime);
    const ids = `${attrs.uid}:${attrs.gid}`;
    const known = byIds?.get(ids);
    if (known !== undefined) return known;
    const own: EntryAttrs = { mode: attrs.mode, uid: attrs.uid, gid: attrs.gid, mtime: attrs.mtime };
    const index = this.#attrs.push(own) - 1;
    if (this.#sharedAttrsCount >= MAX_SHARED_ATTRS) return index;
    if (byMtime === undefined) this.#sharedAttrs.set(attrs.mode, (byMtime = new Map()));
    if (byIds === undefined) byMtime.set(attrs.mtime, (byIds = new Map()));
    byIds.set(ids, index);
    this.#sharedAttrsCount++;
    return index;
  }

  // ── resolving ────────────────────────────────────────────────────────────────────────────

  /**
   * Replaces every hard link by a reference to its target's node (`inodeOf`) and builds the
   * children lists. Throws on a missing or directory target. The tree is read-only after this.
   */
  resolve(): void {
    if (this.#resolved) return;
    this.#resolved = true;
    this.#buildChildren();
    const kind = this.#kind;
    const links: number[] = [];
    this.#walk((node) => {
      if (kind[node] === NodeKind.hardlink) links.push(node);
    });
    const final = new Map<number, number>();
    for (const first of links) {
      const chain = new Set<number>();
      let node = first;
      let target: number;
      for (;;) {
        const done = final.get(node);
        if (done !== undefined) {
          target = done;
          break;
        }
        const link = this.#links[this.#payload[node]!]!;
        if (chain.has(node))
          throw new SquashfsHardlinkTargetMissingError(link.path, link.target, "is a hard link cycle");
        chain.add(node);
        const found = this.#lookupHashed(link.target);
        if (found < 0) throw new SquashfsHardlinkTargetMissingError(link.path, link.target);
        if (kind[found] === NodeKind.hardlink) {
          node = found;
          continue;
        }
        if (kind[found] === NodeKind.dir) throw new SquashfsHardlinkToDirectoryError(link.path, link.target);
        target = found;
        break;
      }
      for (const l of chain) final.set(l, target);
    }
    for (const [link, target] of final) {
      this.#payload[link] = target;
      this.#linkTargets.add(target);
    }
    this.#links.length = 0;
    // Lookups are over: the table is garbage.
    this.#slots = new Int32Array(0);
    this.#hash = new Uint32Array(0);
    this.#sharedAttrs.clear();
  }

  /** The node at `path` through the lookup table (before it is dropped), or -1. */
  #lookupHashed(path: string): number {
    let parts: string[];
    try {
      parts = splitPath(path);
    } catch {
      return -1;
    }
    let node = ROOT;
    for (const part of parts) {
      if (this.#kind[node] !== NodeKind.dir) return -1;
      node = this.#child(node, nameBytesOf(part));
      if (node < 0) return -1;
    }
    return node;
  }

  /** Children lists of the live nodes, by a counting sort on their parents. */
  #buildChildren(): void {
    const n = this.#count;
    const start = new Int32Array(n + 1);
    for (let i = 1; i < n; i++) if (this.#kind[i] !== NodeKind.dead) start[this.#parent[i]! + 1]!++;
    for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
    const list = new Int32Array(start[n]!);
    const fill = start.slice(0, n);
    for (let i = 1; i < n; i++) if (this.#kind[i] !== NodeKind.dead) list[fill[this.#parent[i]!]!++] = i;
    this.#childStart = start;
    this.#childList = list;
  }

  /** Calls `visit` for every node reachable from the root (not the root), depth first. */
  #walk(visit: (node: number) => void): void {
    const stack = [ROOT];
    for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
      for (const child of this.#rawChildren(dir)) {
        visit(child);
        if (this.#kind[child] === NodeKind.dir) stack.push(child);
      }
    }
  }

  #rawChildren(dir: number): Int32Array {
    const start = this.#childStart!;
    return this.#childList!.subarray(start[dir]!, start[dir + 1]!);
  }

  /** The node at `path` after resolve() built the children lists (a linear scan per directory). */
  #find(path: string): number {
    let node = ROOT;
    let parts: string[];
    try {
      parts = splitPath(path);
    } catch {
      return -1;
    }
    for (const part of parts) {
      if (this.#kind[node] !== NodeKind.dir) return -1;
      const bytes = nameBytesOf(part);
      let next = -1;
      for (const child of this.#rawChildren(node)) {
        if (this.#nameEquals(child, bytes)) {
          next = child;
          break;
        }
      }
      if (next < 0) return -1;
      node = next;
    }
    return node;
  }

  // ── reading (after resolve) ──────────────────────────────────────────────────────────────

  get root(): number {
    return ROOT;
  }

  kind(node: number): NodeKindName {
    return KIND_NAMES[this.#kind[node]!] as NodeKindName;
  }

  /** The node that holds `node`'s inode: its hard link target's, or itself. */
  inodeOf(node: number): number {
    if (this.#kind[node] !== NodeKind.hardlink) return node;
    if (!this.#resolved || this.#links.length > 0) throw new SquashfsInternalError("unresolved hard link");
    return this.#payload[node]!;
  }

  attrs(node: number): EntryAttrs {
    return this.#attrs[this.#attrIndex[node]!]!;
  }

  /** A file's layout id. */
  layout(node: number): number {
    return this.#payload[node]!;
  }

  symlinkTarget(node: number): string {
    return this.#targets[this.#payload[node]!]!;
  }

  /** A device's rdev, as the inode stores it. */
  rdev(node: number): number {
    return this.#payload[node]!;
  }

  /** The name's bytes (a view into the arena: do not change it). */
  nameBytes(node: number): Uint8Array {
    const start = this.#nameStart[node]!;
    return this.#names.subarray(start, start + this.#nameLength[node]!);
  }

  /** The name in string form (byte-names.ts), for messages. */
  name(node: number): string {
    return decodeName(this.nameBytes(node));
  }

  /** A directory's children in listing order: by the bytes of their names (strcmp). */
  sortedChildren(dir: number): number[] {
    if (this.#childList === undefined) throw new SquashfsInternalError("the tree was not resolved");
    const kids = Array.from(this.#rawChildren(dir));
    const names = this.#names;
    const starts = this.#nameStart;
    const lengths = this.#nameLength;
    kids.sort((a, b) => {
      const sa = starts[a]!;
      const sb = starts[b]!;
      const la = lengths[a]!;
      const lb = lengths[b]!;
      const n = la < lb ? la : lb;
      for (let i = 0; i < n; i++) {
        const d = names[sa + i]! - names[sb + i]!;
        if (d !== 0) return d;
      }
      return la - lb;
    });
    return kids;
  }

  /**
   * The nodes `resolve()` found at more than one path (each hard link's target): the only nodes
   * that are reached twice, so the serializer keeps link counts for these alone.
   */
  get linkTargets(): ReadonlySet<number> {
    return this.#linkTargets;
  }

  /** The node at `path`, or undefined (for tests: after resolve() it scans each directory). */
  lookup(path: string): number | undefined {
    const found = this.#childList === undefined ? this.#lookupHashed(path) : this.#find(path);
    return found < 0 ? undefined : found;
  }
}

/** A name's bytes: UTF-8, or byte-names.ts's encoding when it holds escaped bytes. */
function nameBytesOf(name: string): Uint8Array {
  return SURROGATE.test(name) ? encodeName(name) : encoder.encode(name);
}
