/**
 * Applies OCI layers (image-spec `layer.md`, "Applying Changesets" and "Whiteouts") in one
 * streaming pass, TOPMOST LAYER FIRST, yielding the entries of the merged root filesystem.
 *
 * Why top-down: once every layer above has been read, whether an entry survives is known the
 * moment it streams by (an upper layer can only hide it, never un-hide it), so each surviving
 * file's content goes straight to the consumer; nothing is extracted and no data is buffered.
 * The state is one `PathNode` per path seen (see path-claims.ts).
 *
 * Rules, for an entry of layer j (0 = topmost):
 * - It is dropped when a layer above removed its subtree (a non-directory or a whiteout on an
 *   ancestor, an opaque whiteout in an ancestor), or decided its path: any entry or whiteout
 *   there, or, for a non-directory, something below it (the path is a directory up there).
 *   Two directories merge: the upper one's attributes win (the lower entry is dropped, so it
 *   cannot overwrite them) and the lower children survive unless hidden.
 * - Whiteouts (`.wh.NAME`, `.wh..wh..opq`) only record claims against lower layers and are never
 *   yielded, so their position in the tar does not matter. `.wh..wh.*` AUFS metadata is ignored.
 * - Within one layer a later tar entry replaces an earlier one: both are yielded in order and the
 *   consumer's replace semantics keep the last (see squashfs/entry.ts). Survival ignores claims of
 *   the entry's own layer, so duplicates are judged alike. The one replacement the consumer
 *   cannot express, a non-directory after a directory in one layer, is a coded warning and keeps
 *   the directory (the spec forbids duplicate paths in a layer anyway).
 * - Hard links resolve as the link is applied: a link in layer k to T gets the inode T had when
 *   layer k was applied, i.e. an earlier entry of layer k, or else the next entry at T in the
 *   layers below. Links waiting for that entry form a `LinkGroup`; when the entry streams by it
 *   is yielded at T if it survives there (and the links point to T), or else, because an upper
 *   layer replaced T, at the first link's path (and the other links point to that).
 *
 * The consumer must read (or ignore) each yielded file's content before asking for the next
 * entry, exactly as with the tar reader; content of dropped files is drained here.
 */
import type { Entry, FileContent } from "../squashfs/index.js";
import { silentReporter, type Reporter } from "../reporter.js";
import { classifyWhiteout } from "./whiteout.js";
import { MERGE_WARNINGS, type MergeWarningCode } from "./merge-warnings.js";
import { PathNode, createRoot, pathParts } from "./path-claims.js";

/** One layer's entries in tar order, paths normalized, whiteout names kept (e.g. `readTar`'s output). */
export type LayerEntries = AsyncIterable<Entry> | Iterable<Entry>;

/**
 * A layer: its entries, or a function opening them. A function (or an array) can be read a
 * second time, which the merge does only for a layer holding a hard link to one of its own files
 * that an upper layer replaced: that file streamed by (and was dropped) before the link showed
 * it was needed. Other layers are read once.
 */
export type LayerSource = LayerEntries | (() => LayerEntries);

export interface MergeOptions {
  /**
   * Where coded warnings go (see merge-warnings.ts). A run context's reporter throws them under
   * --strict (see context.ts); the merge itself has no policy.
   */
  reporter?: Reporter;
}

/**
 * Merges layers given TOPMOST FIRST (the reverse of the manifest's `layers` order). Layers are
 * opened one at a time as the iterable yields them, so an async generator can open each tar lazily.
 */
export async function* mergeLayers(
  layers: AsyncIterable<LayerSource> | Iterable<LayerSource>,
  opts: MergeOptions = {},
): AsyncGenerator<Entry> {
  const merger = new LayerMerger(opts.reporter ?? silentReporter);
  let index = 0;
  for await (const layer of layers) {
    for await (const entry of open(layer)) {
      const out = merger.apply(index, entry);
      if (out.length === 0 && entry.type === "file") await drain(entry.content);
      yield* out;
    }
    const rescans = merger.endLayer(index);
    if (rescans.size > 0) {
      if (typeof layer === "function" || Array.isArray(layer)) {
        let ordinal = 0;
        for await (const entry of open(layer)) {
          const group = rescans.get(ordinal++);
          const out = group ? merger.fulfilRescan(group, entry) : [];
          if (out.length === 0 && entry.type === "file") await drain(entry.content);
          yield* out;
        }
      }
      merger.abandonRescans(rescans);
    }
    index++;
  }
  merger.finish();
}

function open(layer: LayerSource): LayerEntries {
  return typeof layer === "function" ? layer() : layer;
}

/** Where a hard link's inode lives. */
type LinkResolution =
  /** At this output path (already yielded, or yielded before the consumer finishes). */
  | { kind: "path"; path: string }
  /** Still to come: the next entry at `group.node` from a lower layer. */
  | { kind: "group"; group: LinkGroup }
  /** Nowhere: the target does not exist, is a directory, or was dropped before the link came. */
  | { kind: "missing" | "directory" | "dropped" };

/** Links whose inode is the next lower entry at `node`; `members` are output paths, in link order. */
interface LinkGroup {
  node: PathNode;
  /** Topmost layer a member comes from; the source must come from a layer below it. */
  createdLayer: number;
  members: string[];
  /** Set once the source streamed by (or the target vanished); later joiners follow it. */
  resolved?: LinkResolution;
  /** For a file of the current layer dropped before links to it came: its position in the layer. */
  rescanOrdinal?: number;
}

const MISSING: LinkResolution = { kind: "missing" };
const DIRECTORY: LinkResolution = { kind: "directory" };
const DROPPED: LinkResolution = { kind: "dropped" };

/** The merge state machine; `mergeLayers` drives it. Exported for tests of its bookkeeping. */
export class LayerMerger {
  readonly #reporter: Reporter;
  readonly #root = createRoot();
  /** Open link groups by target node. */
  readonly #groups = new Map<PathNode, LinkGroup>();
  /** What the latest entry at each path of the CURRENT layer resolves to, for same-layer links. */
  readonly #layerInodes = new Map<PathNode, LinkResolution>();
  /** Nodes holding whiteouts that have not (yet) removed anything. */
  readonly #unmatchedWhiteouts = new Set<PathNode>();
  /** Dropped files of the current layer that same-layer links turned out to need. */
  readonly #rescans: LinkGroup[] = [];
  /** Position of the next entry in the current layer. */
  #ordinal = 0;

  constructor(reporter: Reporter) {
    this.#reporter = reporter;
  }

  #warn(code: MergeWarningCode, message: string, path: string): void {
    this.#reporter.warn({ code, message, path });
  }

  /** Applies one entry of layer `layer` (layers numbered from 0 = topmost, fed in order); returns what to yield. */
  apply(layer: number, entry: Entry): Entry[] {
    this.#ordinal++;
    const kind = classifyWhiteout(entry.path);
    switch (kind.kind) {
      case "none":
        return this.#applyEntry(layer, entry);
      case "whiteout":
        this.#applyWhiteout(layer, kind.target, entry.path);
        return [];
      case "opaque":
        this.#applyOpaque(layer, kind.dir, entry.path);
        return [];
      case "aufs-meta":
        return [];
      case "invalid":
        this.#warn(MERGE_WARNINGS.whiteoutInvalid, `ignored '${entry.path}': ${kind.reason}`, entry.path);
        return [];
    }
  }

  /**
   * Closes layer `layer`: links waiting on a path this layer removed have no target. Returns the
   * layer's dropped files that its own links need, by position in the layer: the caller reads the
   * layer again and passes each to `fulfilRescan`, then calls `abandonRescans`.
   */
  endLayer(layer: number): Map<number, LinkGroup> {
    for (const group of [...this.#groups.values()]) {
      // Within its own layer a link sees removals by whiteouts (which apply before the layer's
      // entries) but not a later tar entry turning an ancestor into a file: the link exists by then.
      if (group.createdLayer > layer) continue;
      if (!group.node.removedByLayer(layer, group.createdLayer < layer)) continue;
      this.#closeGroup(group, MISSING);
    }
    this.#layerInodes.clear();
    this.#ordinal = 0;
    const rescans = new Map<number, LinkGroup>();
    for (const group of this.#rescans.splice(0)) {
      if (group.members.length > 0) rescans.set(group.rescanOrdinal as number, group);
    }
    return rescans;
  }

  /** The second reading of a layer reached a file that links need: yield it at the first link's path. */
  fulfilRescan(group: LinkGroup, entry: Entry): Entry[] {
    const first = group.members[0];
    if (
      first === undefined ||
      entry.path !== group.node.path ||
      entry.type === "directory" ||
      entry.type === "hardlink"
    ) {
      return []; // the layer read differently the second time: abandonRescans reports it
    }
    const resolution: LinkResolution = { kind: "path", path: first };
    const out: Entry[] = [{ ...entry, path: first }];
    this.#link(resolution, group.members.slice(1), out);
    group.resolved = resolution;
    return out;
  }

  /** Links whose dropped target could not be read again (the layer is a one-shot stream). */
  abandonRescans(rescans: Map<number, LinkGroup>): void {
    for (const group of rescans.values()) if (!group.resolved) this.#closeGroup(group, DROPPED);
  }

  /** After the last layer: report links that never found their target and whiteouts that removed nothing. */
  finish(): void {
    for (const group of [...this.#groups.values()]) this.#closeGroup(group, MISSING);
    for (const node of this.#unmatchedWhiteouts) {
      const path = node.path;
      for (const layer of node.unmatchedWhiteouts ?? []) {
        this.#warn(
          MERGE_WARNINGS.whiteoutMissing,
          `layer ${layer} whites out '${path}', which no lower layer has`,
          path,
        );
      }
    }
    this.#unmatchedWhiteouts.clear();
  }

  /** The nodes from the root to `path`, created as needed. */
  #walk(path: string): PathNode[] {
    const nodes = [this.#root];
    let node = this.#root;
    for (const name of pathParts(path)) {
      node = node.child(name);
      nodes.push(node);
    }
    return nodes;
  }

  /** The first ancestor (excluding the last node) that `layer` itself made a non-directory. */
  #nonDirAncestorInLayer(nodes: PathNode[], layer: number): PathNode | undefined {
    for (let i = 0; i < nodes.length - 1; i++) {
      const node = nodes[i] as PathNode;
      if (node.entryLast === layer && node.lastIsNonDir) return node;
    }
    return undefined;
  }

  #applyWhiteout(layer: number, target: string, rawPath: string): void {
    const nodes = this.#walk(target);
    const blocker = this.#nonDirAncestorInLayer(nodes, layer);
    if (blocker) {
      this.#warn(
        MERGE_WARNINGS.whiteoutUnderNonDirectory,
        `ignored whiteout '${rawPath}': its layer made '${blocker.path}' a non-directory`,
        rawPath,
      );
      return;
    }
    const node = nodes[nodes.length - 1] as PathNode;
    node.whiteoutMin = Math.min(node.whiteoutMin, layer);
    node.whiteoutLast = layer;
    (node.unmatchedWhiteouts ??= []).push(layer);
    this.#unmatchedWhiteouts.add(node);
  }

  #applyOpaque(layer: number, dir: string, rawPath: string): void {
    const nodes = this.#walk(dir);
    // The directory itself counts too, the marker lives inside it: pass a dummy last node
    // (the root is never a non-directory) so every node of `nodes` is checked.
    const blocker = this.#nonDirAncestorInLayer([...nodes, this.#root], layer);
    if (blocker) {
      this.#warn(
        MERGE_WARNINGS.whiteoutUnderNonDirectory,
        `ignored opaque whiteout '${rawPath}': its layer made '${blocker.path}' a non-directory`,
        rawPath,
      );
      return;
    }
    const node = nodes[nodes.length - 1] as PathNode;
    node.opaqueMin = Math.min(node.opaqueMin, layer);
    node.opaqueLast = layer;
    // The marker is a file in `dir`, so `dir` is a directory in this layer.
    for (const n of nodes) {
      n.implicitMin = Math.min(n.implicitMin, layer);
      n.implicitLast = layer;
    }
  }

  #applyEntry(layer: number, entry: Entry): Entry[] {
    const path = entry.path;
    const isDir = entry.type === "directory";
    if (path === "" && !isDir) {
      this.#warn(MERGE_WARNINGS.rootNotDirectory, `ignored ${entry.type} entry for the image root`, path);
      return [];
    }
    const nodes = this.#walk(path);
    const node = nodes[nodes.length - 1] as PathNode;

    // Same-layer conflicts the tree cannot represent (see the module comment).
    const blocker = this.#nonDirAncestorInLayer(nodes, layer);
    if (blocker) {
      this.#warn(
        MERGE_WARNINGS.parentNotDirectory,
        `ignored '${path}': its layer made '${blocker.path}' a non-directory earlier`,
        path,
      );
      return [];
    }
    if (!isDir && ((node.entryLast === layer && !node.lastIsNonDir) || node.implicitLast === layer)) {
      this.#warn(
        MERGE_WARNINGS.directoryReplacedInLayer,
        `ignored ${entry.type} '${path}': its layer has a directory there already`,
        path,
      );
      return [];
    }

    let hidden = node.hidesLowerEntry(layer, isDir);
    for (let i = 0; i < nodes.length - 1 && !hidden; i++)
      hidden = (nodes[i] as PathNode).hidesLowerChildren(layer);

    // Resolve a hard link before recording this entry: a link to its own path means the lower version.
    const linkTarget =
      entry.type === "hardlink" ? settled(this.#resolveLink(layer, entry.target)) : undefined;
    if (linkTarget && linkTarget.kind !== "path" && linkTarget.kind !== "group") {
      // Known unusable now: the link is skipped, a no-op that claims nothing (lower entries at
      // its path stay). A hidden one is moot, so only a visible one is worth a warning.
      if (!hidden) this.#warnUnresolved(linkTarget, path);
      return [];
    }

    this.#recordClaims(layer, nodes, isDir);

    // A group waiting on this path takes this entry as its inode, if it comes from a lower layer.
    const group = this.#groups.get(node);
    const waiting = group && group.createdLayer < layer ? group : undefined;
    const out: Entry[] = [];

    if (entry.type === "directory") {
      if (!hidden) out.push(entry);
      if (waiting) this.#closeGroup(waiting, DIRECTORY);
      this.#layerInodes.set(node, DIRECTORY);
      return out;
    }

    if (linkTarget) {
      const own = hidden ? [] : [path];
      if (waiting && linkTarget.kind === "group" && linkTarget.group === waiting) {
        // A link to its own path names the version below it: the group keeps waiting, deeper.
        waiting.createdLayer = layer;
        waiting.members.push(...own);
      } else {
        this.#link(linkTarget, [...own, ...(waiting?.members ?? [])], out);
        if (waiting) this.#closeGroup(waiting, linkTarget, false);
      }
      this.#layerInodes.set(node, linkTarget);
      return out;
    }

    // A regular file, symlink, device, fifo or socket: an inode of its own.
    let at: string | undefined;
    if (!hidden) {
      at = path;
    } else if (waiting && waiting.members.length > 0) {
      at = waiting.members.shift() as string; // the first link's path becomes the file
    } else {
      // A same-layer duplicate of an entry that was moved to a link's path follows it there.
      const previous = this.#layerInodes.get(node);
      if (previous?.kind === "path" && previous.path !== path) at = previous.path;
    }
    if (at === undefined) {
      if (waiting) this.#closeGroup(waiting, DROPPED);
      // Later links of this layer may still need it: they gather here, and if any does, the
      // layer is read a second time for this one entry.
      const rescan: LinkGroup = { node, createdLayer: layer, members: [], rescanOrdinal: this.#ordinal - 1 };
      this.#rescans.push(rescan);
      this.#layerInodes.set(node, { kind: "group", group: rescan });
      return out;
    }
    out.push(at === path ? entry : { ...entry, path: at });
    const resolution: LinkResolution = { kind: "path", path: at };
    if (waiting) {
      this.#link(resolution, waiting.members, out);
      this.#closeGroup(waiting, resolution, false);
    }
    this.#layerInodes.set(node, resolution);
    return out;
  }

  #recordClaims(layer: number, nodes: PathNode[], isDir: boolean): void {
    const last = nodes.length - 1;
    for (let i = 0; i <= last; i++) {
      const n = nodes[i] as PathNode;
      // Any entry at or below a whited-out path proves the whiteout removed something.
      if (n.unmatchedWhiteouts) {
        n.unmatchedWhiteouts = n.unmatchedWhiteouts.filter((w) => w >= layer);
        if (n.unmatchedWhiteouts.length === 0) {
          n.unmatchedWhiteouts = undefined;
          this.#unmatchedWhiteouts.delete(n);
        }
      }
      if (i < last) {
        n.implicitMin = Math.min(n.implicitMin, layer);
        n.implicitLast = layer;
      }
    }
    const node = nodes[last] as PathNode;
    node.entryMin = Math.min(node.entryMin, layer);
    node.entryLast = layer;
    node.lastIsNonDir = !isDir;
    if (!isDir) {
      node.nonDirMin = Math.min(node.nonDirMin, layer);
      node.nonDirLast = layer;
    }
  }

  /** What a hard link in `layer` to `target` refers to, as the merged tree stands at that point of the layer. */
  #resolveLink(layer: number, target: string): LinkResolution {
    if (target === "") return DIRECTORY;
    if (classifyWhiteout(target).kind !== "none") return MISSING;
    const nodes = this.#walk(target);
    if (this.#nonDirAncestorInLayer(nodes, layer)) return MISSING;
    const node = nodes[nodes.length - 1] as PathNode;
    if (node.entryLast === layer) {
      // An earlier entry of this same layer.
      return settled(this.#layerInodes.get(node) ?? MISSING);
    }
    if (node.removedByLayer(layer, false)) return MISSING;
    let group = this.#groups.get(node);
    if (!group) {
      group = { node, createdLayer: layer, members: [] };
      this.#groups.set(node, group);
    }
    return { kind: "group", group };
  }

  /** Makes `members` (output paths) hard links to `inode`, now or when it streams by. */
  #link(inode: LinkResolution, members: string[], out: Entry[]): void {
    inode = settled(inode);
    switch (inode.kind) {
      case "path":
        for (const member of members)
          if (member !== inode.path) out.push({ type: "hardlink", path: member, target: inode.path });
        return;
      case "group":
        inode.group.members.push(...members);
        return;
      default:
        for (const member of members) this.#warnUnresolved(inode, member);
    }
  }

  /** Settles a group; `warn` reports its members when the inode is unusable. */
  #closeGroup(group: LinkGroup, resolution: LinkResolution, warn = true): void {
    group.resolved = resolution;
    if (this.#groups.get(group.node) === group) this.#groups.delete(group.node);
    if (warn && resolution.kind !== "path" && resolution.kind !== "group") {
      for (const member of group.members) this.#warnUnresolved(resolution, member);
    }
  }

  #warnUnresolved(inode: LinkResolution, member: string): void {
    if (inode.kind === "directory") {
      this.#warn(
        MERGE_WARNINGS.hardlinkToDirectory,
        `skipped hard link '${member}': its target is a directory`,
        member,
      );
    } else if (inode.kind === "dropped") {
      this.#warn(
        MERGE_WARNINGS.hardlinkTargetDropped,
        `skipped hard link '${member}': its target, in the same layer, was replaced by an upper layer and its content already passed`,
        member,
      );
    } else {
      this.#warn(
        MERGE_WARNINGS.hardlinkTargetMissing,
        `skipped hard link '${member}': its target does not exist in its layer's tree`,
        member,
      );
    }
  }
}

/** Follows groups that were settled (possibly into other groups) to where the inode is now known to be. */
function settled(inode: LinkResolution): LinkResolution {
  // Groups settle only into groups still open then, so the chain has no cycles.
  while (inode.kind === "group" && inode.group.resolved) inode = inode.group.resolved;
  return inode;
}

/** Reads and discards a dropped file's content so the next entry can be read. */
async function drain(content: FileContent): Promise<void> {
  if (content instanceof Uint8Array) return;
  const drainable = content as { drain?: () => Promise<void> };
  if (typeof drainable.drain === "function") return drainable.drain();
  for await (const _chunk of content);
}
