/**
 * `docker-archive:FILE[:REF]` — what `docker save` writes: `manifest.json`
 * (`[{Config, RepoTags, Layers}]`) plus either legacy `<id>/layer.tar` files or, since Docker 25,
 * an OCI layout whose blobs the same manifest.json points at. REF is a tag from RepoTags
 * (`alpine:3.20`) or `@N`, the N-th image of the archive.
 */
import { digestOf, isDigest } from "../digest.js";
import { ArchiveAmbiguousError, InvalidReferenceError, LocalSourceError } from "../errors.js";
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

/** What to do about an archive whose manifest.json is missing or broken. */
const REWRITE_HINT = "write it again with `docker save IMAGE -o FILE` (or `podman save`)";

function parseSaveManifest(bytes: Buffer, location: string): SaveEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new LocalSourceError(location, "manifest.json is not valid JSON", {
      cause: err,
      hint: REWRITE_HINT,
    });
  }
  if (!Array.isArray(v)) {
    throw new LocalSourceError(location, "manifest.json is not a list", { hint: REWRITE_HINT });
  }
  return v.map((e: unknown, i) => {
    // `null` and non-objects too: a hostile manifest.json must not reach a property read.
    const o = (typeof e === "object" && e !== null ? e : {}) as Partial<SaveEntry>;
    if (
      typeof o.Config !== "string" ||
      !Array.isArray(o.Layers) ||
      !o.Layers.every((l) => typeof l === "string")
    ) {
      throw new LocalSourceError(location, `manifest.json entry ${i} lacks Config or Layers`, {
        hint: REWRITE_HINT,
      });
    }
    return {
      Config: o.Config,
      RepoTags: Array.isArray(o.RepoTags) ? o.RepoTags.filter((t) => typeof t === "string") : [],
      Layers: o.Layers,
    };
  });
}

/** A RepoTags entry as a reference; undefined for an odd tag (skipped, as docker load does). */
function tagReference(tag: string): Reference | undefined {
  try {
    return parseReference(tag);
  } catch {
    return undefined;
  }
}

const sameName = (a: Reference, b: Reference): boolean =>
  a.registry === b.registry && a.repository === b.repository && a.tag === b.tag;

/** `@0 (localhost/a:1)`, `@1 (untagged)`: each image as SOURCE can name it. */
function describeChoices(entries: SaveEntry[]): string[] {
  return entries.map((e, i) => `@${i} (${(e.RepoTags ?? []).join(", ") || "untagged"})`);
}

/**
 * The image SOURCE's REF names, as containers/image reads `docker-archive:PATH[:REF|:@N]`: none
 * for an archive of one image; a reference matched against every RepoTags entry after
 * normalization (`alpine` is `docker.io/library/alpine:latest`; podman's own images are
 * `localhost/NAME`); `@N` the N-th entry of manifest.json. Several images and no REF, or a REF
 * that two different images carry, is ambiguous and refused with the choices listed.
 */
function selectEntry(
  entries: SaveEntry[],
  ref: string | undefined,
  location: string,
): { entry: SaveEntry; reference: Reference | undefined } {
  const refOf = (e: SaveEntry): Reference | undefined => {
    const t = e.RepoTags?.[0];
    return t === undefined ? undefined : tagReference(t);
  };
  const example = (): string => {
    const tag = entries.flatMap((e) => e.RepoTags ?? [])[0];
    return `docker-archive:${location}:${tag ?? "@0"} or docker-archive:${location}:@${entries.length - 1}`;
  };
  if (ref === undefined || ref === "") {
    if (entries.length === 1 && entries[0] !== undefined)
      return { entry: entries[0], reference: refOf(entries[0]) };
    if (entries.length === 0) throw new LocalSourceError(location, "manifest.json lists no images");
    throw new ArchiveAmbiguousError(
      location,
      `the archive holds ${entries.length} images`,
      describeChoices(entries),
      example(),
    );
  }
  const n = /^@(\d+)$/.exec(ref);
  if (n !== null) {
    const e = entries[Number(n[1])];
    if (e === undefined)
      throw new LocalSourceError(
        location,
        `the archive has no image ${ref}; it has ${describeChoices(entries).join(", ")}`,
      );
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
  const matches: Array<{ entry: SaveEntry; reference: Reference }> = [];
  for (const e of entries) {
    for (const t of e.RepoTags ?? []) {
      const r = tagReference(t);
      if (r !== undefined && sameName(r, want)) {
        matches.push({ entry: e, reference: r });
        break;
      }
    }
  }
  const first = matches[0];
  // The same tag on two entries of one config is one image listed twice; on two configs, a guess.
  if (first !== undefined && matches.every((m) => m.entry.Config === first.entry.Config)) return first;
  if (first !== undefined) {
    throw new ArchiveAmbiguousError(
      location,
      `${matches.length} different images are tagged "${ref}"`,
      describeChoices(entries),
      `docker-archive:${location}:@${entries.indexOf(first.entry)}`,
    );
  }
  // Not there: a tag that differs only by registry (podman's `localhost/`) is the likely intent.
  const near = entries
    .flatMap((e) => e.RepoTags ?? [])
    .filter((t) => {
      const r = tagReference(t);
      return (
        r !== undefined &&
        r.tag === want.tag &&
        r.repository.split("/").pop() === want.repository.split("/").pop()
      );
    });
  throw new LocalSourceError(
    location,
    `no image tagged "${ref}" in the archive; it has ${describeChoices(entries).join(", ")}`,
    near.length > 0 ? { hint: `did you mean docker-archive:${location}:${near[0]}?` } : {},
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
          : REWRITE_HINT,
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
