/**
 * `oci:DIR[:REF]` and `oci-archive:FILE[:REF]` (image-spec image-layout.md): `index.json` names
 * manifests; REF matches an entry's `org.opencontainers.image.ref.name` annotation (or a digest).
 * Nested indexes and multi-platform layouts go through platform selection.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { digestOf } from "../digest.js";
import { LocalSourceError } from "../errors.js";
import { makeImage, type Image } from "../image.js";
import {
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  offeredPlatforms,
  parseImageConfig,
  parseManifest,
  resolveManifest,
  type Descriptor,
  type ResolvedManifest,
  type ImageIndex,
  type ImageManifest,
} from "../manifest.js";
import type { ResolvedOptions } from "../options.js";
import { DirFiles, TarFiles, localLayerStore, readBlob, type LocalFiles } from "./local-files.js";

export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name";

/** Pick the index.json entry for `ref` (see the file comment). */
export function selectLayoutEntry(
  index: ImageIndex,
  ref: string | undefined,
  location: string,
): Descriptor | ImageIndex {
  const entries = index.manifests;
  if (ref !== undefined && ref !== "") {
    const want = ref.startsWith("@") ? ref.slice(1) : ref;
    const hit = entries.filter(
      (m) =>
        m.digest === want ||
        m.annotations?.[REF_NAME_ANNOTATION] === want ||
        m.annotations?.[CONTAINERD_NAME_ANNOTATION] === want,
    );
    if (hit[0] !== undefined) return hit[0];
    const refs = entries
      .map((m) => m.annotations?.[REF_NAME_ANNOTATION])
      .filter((r): r is string => r !== undefined);
    throw new LocalSourceError(
      location,
      `no image named "${ref}" in index.json; it has: ${refs.length > 0 ? refs.join(", ") : "no named images"}`,
    );
  }
  if (entries.length === 1 && entries[0] !== undefined) return entries[0];
  if (entries.length > 1 && entries.every((m) => m.platform !== undefined)) return index; // a multi-platform layout
  const refs = entries.map((m) => m.annotations?.[REF_NAME_ANNOTATION] ?? m.digest);
  throw new LocalSourceError(
    location,
    entries.length === 0
      ? "index.json lists no images"
      : `index.json lists several images; name one with :REF (${refs.join(", ")})`,
  );
}

/** Resolve index.json → (index →) manifest → config over any `LocalFiles`. */
export async function openLayoutImage(
  files: LocalFiles,
  ref: string | undefined,
  opts: ResolvedOptions,
  transport: string,
  onClose?: () => Promise<void>,
): Promise<Image> {
  const indexBytes = await files.read("index.json", MAX_MANIFEST_BYTES);
  if (indexBytes === undefined) {
    throw new LocalSourceError(files.location, "not an OCI image layout (no index.json)", {
      hint: transport === "oci" ? "point oci: at the directory containing oci-layout and index.json" : "",
    });
  }
  const top = parseManifest(indexBytes, "application/vnd.oci.image.index.v1+json");
  if (top.kind !== "index") throw new LocalSourceError(files.location, "index.json is not an image index");
  const chosen: Descriptor | ImageIndex = selectLayoutEntry(top, ref, files.location);
  const fetch = async (desc: Descriptor): Promise<ImageManifest | ImageIndex> =>
    parseManifest(
      await readBlob(files, desc.digest, MAX_MANIFEST_BYTES, "manifest"),
      desc.mediaType,
      desc.digest,
    );
  // A named (or only) entry is taken whatever its platform (makeImage warns on a mismatch);
  // platform selection applies to the indexes below it, or to index.json itself.
  let resolved: ResolvedManifest;
  let platforms: string[] | undefined;
  if ("kind" in chosen) {
    resolved = await resolveManifest(chosen, opts.platform, fetch);
    platforms = offeredPlatforms(chosen);
  } else {
    const child = await fetch(chosen);
    if (child.kind === "index") platforms = offeredPlatforms(child);
    resolved =
      child.kind === "manifest"
        ? { manifest: child, digest: chosen.digest, path: [chosen] }
        : await resolveManifest(child, opts.platform, fetch, 1, new Set([chosen.digest]));
  }
  const { manifest, digest: manifestDigest } = resolved;
  if (manifest.config.size > MAX_CONFIG_BYTES)
    throw new LocalSourceError(files.location, `config larger than ${MAX_CONFIG_BYTES} bytes`);
  const configBytes = await readBlob(files, manifest.config.digest, MAX_CONFIG_BYTES, "config");
  const config = parseImageConfig(configBytes, manifest.config.digest);
  return makeImage({
    transport,
    reference: undefined,
    manifestDigest,
    configDigest: digestOf(configBytes),
    configBytes,
    config,
    layers: manifest.layers,
    store: localLayerStore(files),
    reporter: opts.reporter,
    concurrency: opts.concurrency,
    requestedPlatform: opts.platform,
    ...(platforms !== undefined ? { platforms } : {}),
    ...(opts.maxRatio !== undefined ? { maxRatio: opts.maxRatio } : {}),
    ...(onClose !== undefined ? { onClose } : {}),
  });
}

export async function openOciLayout(
  dir: string,
  ref: string | undefined,
  opts: ResolvedOptions,
): Promise<Image> {
  return await openLayoutImage(new DirFiles(dir), ref, opts, "oci");
}

/**
 * An archive is read in place when it is a plain tar; a gzip-compressed one is first inflated
 * into a temporary file, removed on `close()`.
 */
export async function openArchiveFiles(
  path: string,
  opts: ResolvedOptions,
): Promise<{ files: TarFiles; cleanup: () => Promise<void> }> {
  let head: Buffer;
  try {
    const fh = await open(path, "r");
    try {
      head = Buffer.alloc(2);
      await fh.read(head, 0, 2, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new LocalSourceError(path, `cannot read the archive: ${(err as Error).message}`, { cause: err });
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const dir = await mkdtemp(join(opts.tmpDir, "gvmconv-archive-"));
    const cleanup = async (): Promise<void> => rm(dir, { recursive: true, force: true });
    try {
      const tar = join(dir, "archive.tar");
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(tar));
      return { files: await TarFiles.open(tar), cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
  return { files: await TarFiles.open(path), cleanup: async () => {} };
}

export async function openOciArchive(
  path: string,
  ref: string | undefined,
  opts: ResolvedOptions,
): Promise<Image> {
  const { files, cleanup } = await openArchiveFiles(path, opts);
  try {
    return await openLayoutImage(files, ref, opts, "oci-archive", cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}
