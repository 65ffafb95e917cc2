/**
 * A build file's `add`: a local directory, file or tar made into one extra layer, placed at
 * `dest`, with the ownership of `COPY` without `--chown` (root) unless told otherwise. The layer
 * joins the image's layers in the ordinary merge (src/layers), so its whiteouts (a tar may carry
 * `.wh.` entries) remove lower files exactly as an image layer's do.
 *
 * Times are the run's filesystem time (SOURCE_DATE_EPOCH or --mkfs-time), not the checkout's, and
 * xattrs are not read: the same files give the same bytes on any machine, which the lock's
 * "unchanged" test relies on.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, posix, resolve } from "node:path";
import { openEntrySource, readDirectory, SourceReadError, type LayerSource } from "../layers/index.js";
import type { Reporter } from "../reporter.js";
import type { Entry, EntryAttrs } from "../squashfs/index.js";
import type { AddSpec } from "./build-file.js";

/** One `add` item, resolved against the build file's directory. */
export interface AddLayer {
  /** Absolute path on disk. */
  src: string;
  /** Image path without the leading `/` ("" for the root). */
  dest: string;
  kind: "directory" | "file" | "tar";
  owner: number | undefined;
  group: number | undefined;
  mode: number | undefined;
  dirMode: number | undefined;
}

const TAR_NAME = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd)$/;

export async function resolveAdd(spec: AddSpec, baseDir: string): Promise<AddLayer> {
  const src = resolve(baseDir, spec.src);
  const st = await stat(src).catch((err: unknown) => {
    throw new SourceReadError(src, `add: ${spec.src} does not exist or cannot be read`, {
      cause: err,
      hint: "paths in add are relative to the build file",
    });
  });
  const kind = st.isDirectory() ? "directory" : TAR_NAME.test(src) ? "tar" : "file";
  let dest = posix.normalize(spec.dest).replace(/^\/+/, "").replace(/\/+$/, "");
  if (kind === "file" && spec.dest.endsWith("/")) dest = posix.join(dest, basename(src));
  const tarDefault = kind === "tar" ? undefined : 0;
  return {
    src,
    dest,
    kind,
    owner: spec.owner ?? tarDefault,
    group: spec.group ?? tarDefault,
    mode: spec.mode === undefined ? undefined : parseInt(spec.mode, 8),
    dirMode: spec.dirMode === undefined ? undefined : parseInt(spec.dirMode, 8),
  };
}

/** The layer's entries, as the merge takes them (a function: the merge may read it twice). */
export function addLayerSource(add: AddLayer, mtime: number, reporter: Reporter): LayerSource {
  return () => addEntries(add, mtime, reporter);
}

async function* addEntries(add: AddLayer, mtime: number, reporter: Reporter): AsyncGenerator<Entry> {
  const place = (path: string): string =>
    path === "" ? add.dest : add.dest === "" ? path : `${add.dest}/${path}`;
  const attrs = (a: EntryAttrs, isDir: boolean): EntryAttrs => ({
    mode: (isDir ? add.dirMode : add.mode) ?? a.mode,
    uid: add.owner ?? a.uid,
    gid: add.group ?? a.gid,
    mtime: add.kind === "tar" ? a.mtime : mtime,
  });
  if (add.kind === "file") {
    const entries = readDirectoryOfFile(add.src);
    for await (const entry of entries) {
      if (entry.type !== "file") continue;
      yield { ...entry, path: add.dest, attrs: attrs(entry.attrs, false) };
    }
    return;
  }
  const source =
    add.kind === "directory"
      ? readDirectory(add.src, { reporter, xattrs: false })
      : await openEntrySource(add.src, { reporter });
  for await (const entry of source) {
    // The directory's own root is `dest` itself; at the image root its attributes stay the image's.
    if (entry.path === "" && add.dest === "") continue;
    const path = place(entry.path);
    if (entry.type === "hardlink") {
      yield { ...entry, path, target: place(entry.target) };
    } else {
      yield { ...entry, path, attrs: attrs(entry.attrs, entry.type === "directory") } as Entry;
    }
  }
}

/** A single file as one entry; it streams, so a large file is never held in memory. */
async function* readDirectoryOfFile(path: string): AsyncGenerator<Entry> {
  const st = await stat(path);
  if (!st.isFile()) throw new SourceReadError(path, `add: ${path} is neither a directory nor a regular file`);
  yield {
    type: "file",
    path: basename(path),
    attrs: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: 0 },
    size: st.size,
    content: createReadStream(path),
  };
}

/**
 * The digest of what the layer holds: every entry as placed (paths, types, attributes, link
 * targets) and every file's bytes. Equal digests give equal layers.
 */
export async function addDigest(add: AddLayer, mtime: number, reporter: Reporter): Promise<string> {
  const hash = createHash("sha256");
  for await (const entry of addEntries(add, mtime, reporter)) {
    const { content, ...meta } = entry as Entry & { content?: Uint8Array | AsyncIterable<Uint8Array> };
    const { attrs, ...rest } = meta as { attrs?: EntryAttrs };
    hash.update(JSON.stringify({ ...rest, attrs: attrs ? { ...attrs, xattrs: undefined } : undefined }));
    hash.update("\0");
    if (content instanceof Uint8Array) hash.update(content);
    else if (content !== undefined) for await (const chunk of content) hash.update(chunk);
    hash.update("\0");
  }
  return `sha256:${hash.digest("hex")}`;
}
