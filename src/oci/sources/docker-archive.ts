/**
 * `docker-archive:FILE[:REF]` — what `docker save` writes: `manifest.json`
 * (`[{Config, RepoTags, Layers}]`) plus either legacy `<id>/layer.tar` files or, since Docker 25,
 * an OCI layout whose blobs the same manifest.json points at. REF is a tag from RepoTags
 * (`alpine:3.20`) or `@N`, the N-th image of the archive.
 */
import { digestOf, isDigest } from "../digest.js";
import { InvalidReferenceError, LocalSourceError } from "../errors.js";
import { makeImage, type Image } from "../image.js";
import {
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  MediaType,
  parseImageConfig,
  type Descriptor,
} from "../manifest.js";
import type { ResolvedOptions } from "../options.js";
import { parseReference, type Reference } from "../reference.js";
import { localLayerStore, type LocalFiles } from "./local-files.js";
import { openArchiveFiles } from "./oci-layout.js";

interface SaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function parseSaveManifest(bytes: Buffer, location: string): SaveEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new LocalSourceError(location, "manifest.json is not valid JSON", { cause: err });
  }
  if (!Array.isArray(v)) throw new LocalSourceError(location, "manifest.json is not a list");
  return v.map((e: unknown, i) => {
    // `null` and non-objects too: a hostile manifest.json must not reach a property read.
    const o = (typeof e === "object" && e !== null ? e : {}) as Partial<SaveEntry>;
    if (
      typeof o.Config !== "string" ||
      !Array.isArray(o.Layers) ||
      !o.Layers.every((l) => typeof l === "string")
    ) {
      throw new LocalSourceError(location, `manifest.json entry ${i} lacks Config or Layers`);
    }
    return {
      Config: o.Config,
      RepoTags: Array.isArray(o.RepoTags) ? o.RepoTags.filter((t) => typeof t === "string") : [],
      Layers: o.Layers,
    };
  });
}

function selectEntry(
  entries: SaveEntry[],
  ref: string | undefined,
  location: string,
): { entry: SaveEntry; reference: Reference | undefined } {
  const tags = entries.flatMap((e) => e.RepoTags ?? []);
  const refOf = (e: SaveEntry): Reference | undefined => {
    const t = e.RepoTags?.[0];
    if (t === undefined) return undefined;
    try {
      return parseReference(t);
    } catch {
      return undefined;
    }
  };
  if (ref === undefined || ref === "") {
    if (entries.length === 1 && entries[0] !== undefined)
      return { entry: entries[0], reference: refOf(entries[0]) };
    throw new LocalSourceError(
      location,
      entries.length === 0
        ? "manifest.json lists no images"
        : `the archive holds ${entries.length} images; name one with :REF (${tags.join(", ") || "@0, @1, …"})`,
    );
  }
  const n = /^@(\d+)$/.exec(ref);
  if (n !== null) {
    const e = entries[Number(n[1])];
    if (e === undefined)
      throw new LocalSourceError(location, `the archive has no image ${ref} (it has ${entries.length})`);
    return { entry: e, reference: refOf(e) };
  }
  let want: Reference;
  try {
    want = parseReference(ref);
  } catch (err) {
    if (err instanceof InvalidReferenceError)
      throw new LocalSourceError(location, `"${ref}" is neither a tag nor @N`, { cause: err });
    throw err;
  }
  for (const e of entries) {
    for (const t of e.RepoTags ?? []) {
      try {
        const r = parseReference(t);
        if (r.registry === want.registry && r.repository === want.repository && r.tag === want.tag)
          return { entry: e, reference: r };
      } catch {
        // an odd tag in the archive: skip it
      }
    }
  }
  throw new LocalSourceError(
    location,
    `no image tagged "${ref}" in the archive; it has: ${tags.join(", ") || "untagged images only (use @N)"}`,
  );
}

/** Open a `docker save` archive already indexed as `files` (also used by docker-daemon). */
export async function openDockerArchiveFiles(
  files: LocalFiles,
  ref: string | undefined,
  opts: ResolvedOptions,
  transport: string,
  onClose?: () => Promise<void>,
): Promise<Image> {
  const mbytes = await files.read("manifest.json", MAX_MANIFEST_BYTES);
  if (mbytes === undefined) {
    throw new LocalSourceError(files.location, "not a docker save archive (no manifest.json)", {
      hint:
        (await files.size("index.json")) !== undefined
          ? "this looks like an OCI archive: use oci-archive:"
          : "",
    });
  }
  const { entry, reference } = selectEntry(parseSaveManifest(mbytes, files.location), ref, files.location);
  const configBytes = await files.read(entry.Config, MAX_CONFIG_BYTES);
  if (configBytes === undefined)
    throw new LocalSourceError(files.location, `config ${entry.Config} is missing`);
  const configDigest = digestOf(configBytes);
  const config = parseImageConfig(configBytes, configDigest);
  const diffIds = config.rootfs.diff_ids;

  const paths = new Map<number, string>();
  const verified = new Set<number>();
  const layers: Descriptor[] = [];
  for (const [i, p] of entry.Layers.entries()) {
    const size = await files.size(p);
    if (size === undefined) throw new LocalSourceError(files.location, `layer ${p} is missing`);
    paths.set(i, p);
    // Docker ≥ 25 names layers blobs/sha256/<hex>: a real blob digest to verify. Legacy
    // `<id>/layer.tar` files are uncompressed tars whose only digest is the diff_id.
    const m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(p);
    const blobDigest = m !== null ? `${m[1]}:${m[2]}` : undefined;
    if (blobDigest !== undefined && isDigest(blobDigest)) {
      verified.add(i);
      layers.push({ mediaType: MediaType.OciLayer, digest: blobDigest, size });
    } else {
      layers.push({ mediaType: MediaType.DockerLayer, digest: diffIds[i] ?? configDigest, size });
    }
  }
  return makeImage({
    transport,
    reference,
    manifestDigest: undefined,
    configDigest,
    configBytes,
    config,
    layers,
    store: localLayerStore(
      files,
      (l) => paths.get(l.index) ?? "",
      (l) => verified.has(l.index),
    ),
    reporter: opts.reporter,
    concurrency: opts.concurrency,
    requestedPlatform: opts.platform,
    ...(opts.maxRatio !== undefined ? { maxRatio: opts.maxRatio } : {}),
    ...(onClose !== undefined ? { onClose } : {}),
  });
}

export async function openDockerArchive(
  path: string,
  ref: string | undefined,
  opts: ResolvedOptions,
): Promise<Image> {
  const { files, cleanup } = await openArchiveFiles(path, opts);
  try {
    return await openDockerArchiveFiles(files, ref, opts, "docker-archive", cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}
