/**
 * The merge's only state: a trie of the image paths seen so far, each recording which layers
 * claimed it and how. Memory grows with the number of paths, never with file data.
 *
 * Layers are numbered from 0 = topmost. Merging top-down, an entry of layer `j` must be judged
 * against layers `< j` only (its own layer cannot hide it: a whiteout applies to lower layers
 * only, and within a layer a later tar entry replaces an earlier one). Claims only ever accumulate,
 * so storing the TOPMOST layer that made each kind of claim (`…Min`) answers "did any layer above
 * `j` do this?" with one comparison. The most recent layer (`…Last`) answers "did the layer being
 * read do this?", which same-layer rules and pending hard links need.
 */

const NONE = Number.POSITIVE_INFINITY;

export class PathNode {
  readonly name: string;
  readonly parent: PathNode | undefined;
  #children: Map<string, PathNode> | undefined;

  /** Topmost / latest layer with an entry (of any type) at this path. */
  entryMin = NONE;
  entryLast = -1;
  /** Topmost / latest layer with a NON-directory entry here: it destroys every lower subtree. */
  nonDirMin = NONE;
  nonDirLast = -1;
  /** Whether the latest entry here, in layer `entryLast`, is a non-directory. */
  lastIsNonDir = false;
  /** Topmost / latest layer with an entry BELOW this path (which makes it a directory there). */
  implicitMin = NONE;
  implicitLast = -1;
  /** Topmost / latest layer whiting out this path (`.wh.NAME`). */
  whiteoutMin = NONE;
  whiteoutLast = -1;
  /** Topmost / latest layer holding `.wh..wh..opq` in this directory. */
  opaqueMin = NONE;
  opaqueLast = -1;
  /** Layers whose whiteout of this path has not yet met a lower entry (for `W_LAYER_WHITEOUT_MISSING`). */
  unmatchedWhiteouts: number[] | undefined;

  constructor(name: string, parent: PathNode | undefined) {
    this.name = name;
    this.parent = parent;
  }

  child(name: string): PathNode {
    this.#children ??= new Map();
    let node = this.#children.get(name);
    if (!node) {
      node = new PathNode(name, this);
      this.#children.set(name, node);
    }
    return node;
  }

  /**
   * The image path ("" for the root); computed, not stored, to keep nodes small. A loop up the
   * parents, not a recursion: a tree may be thousands of levels deep.
   */
  get path(): string {
    if (!this.parent) return "";
    const names = [this.name];
    for (let node = this.parent; node.parent; node = node.parent) names.push(node.name);
    return names.reverse().join("/");
  }

  /** An upper layer (`< layer`) removed everything below this path. */
  hidesLowerChildren(layer: number): boolean {
    return this.nonDirMin < layer || this.whiteoutMin < layer || this.opaqueMin < layer;
  }

  /** An upper layer (`< layer`) decided what is at this path, for an entry of the given kind. */
  hidesLowerEntry(layer: number, isDirectory: boolean): boolean {
    if (this.entryMin < layer || this.whiteoutMin < layer) return true;
    // A path an upper layer only implied (by putting something below it) is a directory there:
    // a lower directory merges into it (and supplies its attributes), a lower non-directory goes.
    return !isDirectory && this.implicitMin < layer;
  }

  /** This layer removed the lower content at this path (whiteout here or on an ancestor, opaque or non-directory ancestor). */
  removedByLayer(layer: number, includeNonDirAncestors: boolean): boolean {
    if (this.whiteoutLast === layer) return true;
    for (let node = this.parent; node; node = node.parent) {
      if (node.whiteoutLast === layer || node.opaqueLast === layer) return true;
      if (includeNonDirAncestors && node.nonDirLast === layer) return true;
    }
    return false;
  }
}

/** Splits a normalized image path into components ("" → none: the root). */
export function pathParts(path: string): string[] {
  return path === "" ? [] : path.split("/");
}

export function createRoot(): PathNode {
  return new PathNode("", undefined);
}
