/**
 * Coded warnings of the layer merge. Under `--strict` the run context turns each into an error
 * with the same code, `E_` for `W_` (see context.ts `StrictWarningError`).
 *
 * Real layers contain things that cannot apply (a whiteout of a path no lower layer has, a hard
 * link to a path that does not exist). Following node-tar's warn-method, they are no-ops with a
 * stable code by default, so a slightly odd image still converts; strict mode refuses them.
 */
/** Stable warning codes. The strict error code is the same with `E_` for `W_`. */
export const MERGE_WARNINGS = {
  /** `.wh.NAME` where no lower layer has NAME (reported once all layers are read). */
  whiteoutMissing: "W_LAYER_WHITEOUT_MISSING",
  /** A whiteout under a path that the same layer made a non-directory: nothing it could remove. */
  whiteoutUnderNonDirectory: "W_LAYER_WHITEOUT_UNDER_NON_DIRECTORY",
  /** A whiteout name that removes nothing nameable (`.wh.`, `.wh..`), or a path under a `.wh.*` directory. */
  whiteoutInvalid: "W_LAYER_WHITEOUT_INVALID",
  /** An entry under a path that the same layer, earlier in its tar, made a non-directory. */
  parentNotDirectory: "W_LAYER_PARENT_NOT_DIRECTORY",
  /** A non-directory after a directory at the same path in one layer (duplicates are forbidden by the spec). */
  directoryReplacedInLayer: "W_LAYER_DIRECTORY_REPLACED",
  /** A non-directory entry for the image root. */
  rootNotDirectory: "W_LAYER_ROOT_NOT_DIRECTORY",
  /** A hard link whose target does not exist in the tree the link's layer applies to. */
  hardlinkTargetMissing: "W_LAYER_HARDLINK_TARGET_MISSING",
  /** A hard link to a directory. */
  hardlinkToDirectory: "W_LAYER_HARDLINK_TO_DIRECTORY",
  /**
   * A hard link to a file of its own layer that an upper layer replaced: that content streamed by
   * (and was dropped) before the link was seen, and the layer is a one-shot stream that cannot be
   * read again for it (see merge.ts `LayerSource`).
   */
  hardlinkTargetDropped: "W_LAYER_HARDLINK_TARGET_DROPPED",
} as const;

export type MergeWarningCode = (typeof MERGE_WARNINGS)[keyof typeof MERGE_WARNINGS];
