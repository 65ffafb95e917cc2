/**
 * Manifests, indexes and image configs (image-spec manifest.md, image-index.md, config.md;
 * Docker image manifest v2 schema 2 and manifest lists), parsed and checked, and platform
 * selection over an index.
 */
import { InvalidManifestError, NoMatchingPlatformError, UnsupportedMediaTypeError } from "./errors.js";
import { parseDigest } from "./digest.js";

export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** What we send in `Accept` for manifests, most preferred first. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

const LAYER_TYPES = new Set<string>([
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciLayerNondistributable,
  MediaType.OciLayerNondistributableGzip,
  MediaType.OciLayerNondistributableZstd,
  MediaType.DockerLayerGzip,
  MediaType.DockerLayer,
  MediaType.DockerForeignLayerGzip,
]);

/** Manifest and config bodies larger than this are refused (the distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  kind: "manifest";
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: "index";
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of the image config (config.md) the converter reads; everything else is kept verbatim. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object> | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
    [key: string]: unknown;
  } | null;
  rootfs: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
  created?: string;
  [key: string]: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array, what: string, digest?: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new InvalidManifestError(`${what} is not valid JSON`, {
      hint: BROKEN_TOOL,
      cause: err,
      ...(digest !== undefined ? { digest } : {}),
    });
  }
  if (!isRecord(v))
    throw new InvalidManifestError(`${what} is not a JSON object`, {
      hint: BROKEN_TOOL,
      ...(digest !== undefined ? { digest } : {}),
    });
  return v;
}

/** The manifest and index media types an index entry can point to (others are skipped). */
const MANIFEST_TYPES = new Set<string>([
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
]);
const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);

/** What to do about a manifest, index or config that breaks the specs. */
const BROKEN_TOOL = "the image was written by a broken tool; rebuild or re-push it";

/** `what` names the JSON field in errors, e.g. `index entry 2 platform.architecture`. */
function fail(what: string, problem: string, digest?: string): never {
  throw new InvalidManifestError(`${what} ${problem}`, {
    hint: BROKEN_TOOL,
    ...(digest !== undefined ? { digest } : {}),
  });
}

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") fail(what, `is ${jsonType(v)}, expected a string`);
  return v;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) fail(what, `is ${jsonType(v)}, expected an object of strings`);
  for (const [k, val] of Object.entries(v))
    if (typeof val !== "string") fail(`${what}.${k}`, `is ${jsonType(val)}, expected a string`);
  return v as Record<string, string>;
}

/** The JSON type of a field's value for an error message ("missing" when the field is absent). */
function jsonType(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function parsePlatformField(v: unknown, what: string): Platform {
  if (!isRecord(v)) fail(what, `is ${jsonType(v)}, expected an object with os and architecture`);
  const os = v.os;
  const architecture = v.architecture;
  if (typeof os !== "string") fail(`${what}.os`, `is ${jsonType(os)}, expected a string`);
  if (typeof architecture !== "string")
    fail(`${what}.architecture`, `is ${jsonType(architecture)}, expected a string`);
  const variant = optionalString(v.variant, `${what}.variant`);
  return { os, architecture, ...(variant !== undefined && variant !== "" ? { variant } : {}) };
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) fail(what, `is ${jsonType(v)}, expected a descriptor object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string")
    fail(`${what} mediaType`, `is ${jsonType(mediaType)}, expected a string`);
  if (typeof digest !== "string") fail(`${what} digest`, `is ${jsonType(digest)}, expected a string`);
  parseDigest(digest, { hint: BROKEN_TOOL });
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    fail(
      `${what} size`,
      `is ${typeof size === "number" ? String(size) : jsonType(size)}, expected a non-negative integer`,
    );
  const d: Descriptor = { mediaType, digest, size };
  if (v.urls !== undefined && v.urls !== null) {
    if (!Array.isArray(v.urls)) fail(`${what} urls`, `is ${jsonType(v.urls)}, expected an array of strings`);
    d.urls = v.urls.map((u, i) => {
      if (typeof u !== "string") fail(`${what} urls[${i}]`, `is ${jsonType(u)}, expected a string`);
      return u;
    });
  }
  const annotations = stringMap(v.annotations, `${what} annotations`);
  if (annotations !== undefined) d.annotations = annotations;
  if (v.platform !== undefined && v.platform !== null)
    d.platform = parsePlatformField(v.platform, `${what} platform`);
  return d;
}

/**
 * Parse a manifest or index. `contentType` is the HTTP Content-Type (or the descriptor's
 * mediaType); when it is missing or generic the body's own `mediaType` and shape decide.
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
  digest?: string,
): ImageManifest | ImageIndex {
  const json = parseJson(bytes, "manifest", digest);
  const declared = optionalString(json.mediaType, "manifest mediaType");
  let mediaType = contentType?.split(";")[0]?.trim();
  if (
    mediaType === undefined ||
    mediaType === "" ||
    mediaType === "application/json" ||
    mediaType === "text/plain" ||
    mediaType === "application/octet-stream"
  ) {
    mediaType = declared ?? (Array.isArray(json.manifests) ? MediaType.OciIndex : MediaType.OciManifest);
  }
  if (
    mediaType === MediaType.DockerSchema1 ||
    mediaType === MediaType.DockerSchema1Signed ||
    json.schemaVersion === 1
  ) {
    throw new UnsupportedMediaTypeError(mediaType, "manifest", {
      hint: "schema 1 images are deprecated; re-push the image with a current Docker or skopeo",
    });
  }
  if (json.schemaVersion !== 2)
    throw new InvalidManifestError(`manifest schemaVersion is ${String(json.schemaVersion)}, expected 2`, {
      hint: BROKEN_TOOL,
      ...(digest !== undefined ? { digest } : {}),
    });
  const annotations = stringMap(json.annotations, "manifest annotations");
  if (mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList) {
    if (!Array.isArray(json.manifests))
      fail("index manifests", `is ${jsonType(json.manifests)}, expected an array`, digest);
    const manifests = json.manifests.map((m, i) => parseDescriptor(m, `index entry ${i}`));
    return { kind: "index", mediaType, manifests, ...(annotations ? { annotations } : {}) };
  }
  if (mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest) {
    const config = parseDescriptor(json.config, "manifest config");
    if (!Array.isArray(json.layers))
      fail("manifest layers", `is ${jsonType(json.layers)}, expected an array`, digest);
    const layers = json.layers.map((l, i) => parseDescriptor(l, `layer ${i}`));
    for (const l of layers) {
      if (!LAYER_TYPES.has(l.mediaType)) {
        throw new UnsupportedMediaTypeError(l.mediaType, "layer", {
          hint: l.mediaType.includes("encrypted")
            ? "encrypted layers are not supported; decrypt the image first"
            : "this manifest is not a container image (an artifact?)",
        });
      }
    }
    return { kind: "manifest", mediaType, config, layers, ...(annotations ? { annotations } : {}) };
  }
  throw new UnsupportedMediaTypeError(mediaType, "manifest", {
    hint: "gvmconv converts OCI and Docker schema-2 images; this content is something else",
  });
}

/** Parse and sanity-check an image config. */
export function parseImageConfig(bytes: Uint8Array, digest?: string): ImageConfig {
  const json = parseJson(bytes, "image config", digest);
  const rootfs = json.rootfs;
  if (!isRecord(rootfs)) fail("image config rootfs", `is ${jsonType(rootfs)}, expected an object`, digest);
  if (!Array.isArray(rootfs.diff_ids))
    fail("image config rootfs.diff_ids", `is ${jsonType(rootfs.diff_ids)}, expected an array`, digest);
  rootfs.diff_ids.forEach((d: unknown, i) => {
    if (typeof d !== "string")
      fail(`image config rootfs.diff_ids[${i}]`, `is ${jsonType(d)}, expected a digest string`, digest);
    parseDigest(d, { hint: BROKEN_TOOL });
  });
  if (typeof json.os !== "string")
    fail("image config os", `is ${jsonType(json.os)}, expected a string`, digest);
  if (typeof json.architecture !== "string")
    fail("image config architecture", `is ${jsonType(json.architecture)}, expected a string`, digest);
  optionalString(json.variant, "image config variant");
  // `config` is read field by field (with their own typed errors) when the container config is built.
  if (json.config !== undefined && json.config !== null && !isRecord(json.config))
    fail("image config config", `is ${jsonType(json.config)}, expected an object`, digest);
  if (json.history !== undefined && json.history !== null && !Array.isArray(json.history))
    fail("image config history", `is ${jsonType(json.history)}, expected an array`, digest);
  return json as unknown as ImageConfig;
}

/** Architecture names (and their aliases) `parsePlatform` takes without an os. */
const KNOWN_ARCHITECTURES = new Set([
  "amd64",
  "x86_64",
  "x86-64",
  "arm64",
  "aarch64",
  "arm",
  "armhf",
  "armel",
  "386",
  "i386",
  "i686",
  "ppc64le",
  "s390x",
  "riscv64",
  "mips64le",
  "loong64",
]);

/** Canonical architecture and variant names (what containerd's platforms package normalizes to). */
export function normalizePlatform(p: Platform): Platform {
  let { architecture, variant } = p;
  const os = p.os.toLowerCase();
  architecture = architecture.toLowerCase();
  variant = variant?.toLowerCase();
  switch (architecture) {
    case "x86_64":
    case "x86-64":
      architecture = "amd64";
      break;
    case "aarch64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8") variant = undefined;
      break;
    case "arm64":
      if (variant === "8" || variant === "v8") variant = undefined;
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "i386":
    case "i686":
      architecture = "386";
      break;
  }
  if (architecture === "arm" && variant !== undefined && /^\d+$/.test(variant)) variant = `v${variant}`;
  return variant !== undefined && variant !== "" ? { os, architecture, variant } : { os, architecture };
}

/**
 * Parse `os/arch[/variant]`; `linux/amd64` is the default. An architecture alone (`amd64`,
 * `arm64`, `arm/v7`) means linux, as docker's and podman's `--platform` read it.
 */
export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
  if (parts.length <= 2 && KNOWN_ARCHITECTURES.has((parts[0] ?? "").toLowerCase())) parts.unshift("linux");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new InvalidManifestError(`invalid platform "${s}" (expected os/arch[/variant], e.g. linux/amd64)`);
  }
  return normalizePlatform({
    os: parts[0] ?? "",
    architecture: parts[1] ?? "",
    ...(parts[2] !== undefined ? { variant: parts[2] } : {}),
  });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ""}`;
}

/**
 * The platform an index entry stands for. An image manifest without `platform` is linux/amd64
 * (what skopeo and go-containerregistry assume); a nested index without one is for any platform
 * (`undefined`): its own entries decide.
 */
function entryPlatform(m: Descriptor): Platform | undefined {
  if (m.platform !== undefined) return normalizePlatform(m.platform);
  return INDEX_TYPES.has(m.mediaType) ? undefined : { os: "linux", architecture: "amd64" };
}

/** containers/image marks the zstd twin of an image in an index with this annotation. */
export const ZSTD_ANNOTATION = "io.github.containers.compression.zstd";
const zstdMark = (m: Descriptor): number => (m.annotations?.[ZSTD_ANNOTATION] === "true" ? 1 : 0);

const isAttestation = (p: Platform | undefined): boolean =>
  p !== undefined && p.os === "unknown" && p.architecture === "unknown";

/**
 * The index entries usable for `want`, best first (image-index.md): os and architecture must
 * match; an exact variant wins, then an entry without a variant, then (arm only) the closest
 * lower variant (v7 runs v6 code); nested indexes without a platform come last. Entries of
 * other media types (artifacts) and `unknown/unknown` attestations are never chosen. Among
 * equals an entry marked as the zstd twin (`ZSTD_ANNOTATION`) comes after the others, then index
 * order. Throws `E_OCI_NO_MATCHING_PLATFORM` when nothing fits.
 */
export function rankPlatforms(index: ImageIndex, want: Platform): Descriptor[] {
  const w = normalizePlatform(want);
  if (index.manifests.length === 0)
    throw new InvalidManifestError("index manifests is empty: the index lists no images", {
      hint: "the image was pushed incompletely; push it again",
    });
  const candidates = index.manifests.filter(
    (m) => MANIFEST_TYPES.has(m.mediaType) && !isAttestation(entryPlatform(m)),
  );
  const num = (v: string | undefined): number => Number(/^v(\d+)$/.exec(v ?? "")?.[1] ?? NaN);
  const rank = (m: Descriptor): number | undefined => {
    const p = entryPlatform(m);
    if (p === undefined) return 1e6; // a nested index: try it after every direct match
    if (p.os !== w.os || p.architecture !== w.architecture) return undefined;
    if (p.variant === w.variant) return 0;
    // No variant asked for: any variant is acceptable, the highest first (arm: v8 > v7 > v6).
    if (w.variant === undefined) return Number.isNaN(num(p.variant)) ? 500 : 100 - num(p.variant);
    if (p.variant === undefined) return 1;
    const n = num(p.variant);
    return n < num(w.variant) ? 100 - n : undefined;
  };
  const ranked = candidates
    .map((m, i) => ({ m, i, r: rank(m) }))
    .filter((x): x is { m: Descriptor; i: number; r: number } => x.r !== undefined)
    .sort((a, b) => a.r - b.r || zstdMark(a.m) - zstdMark(b.m) || a.i - b.i)
    .map((x) => x.m);
  if (ranked.length > 0) return ranked;
  throw new NoMatchingPlatformError(formatPlatform(w), offeredPlatforms(index));
}

/**
 * The platforms an index offers (its image entries; artifacts and attestations left out), as the
 * index wrote them (linux/arm64/v8 stays), so the user can pass one back to --platform.
 */
export function offeredPlatforms(index: ImageIndex): string[] {
  const candidates = index.manifests.filter(
    (m) => MANIFEST_TYPES.has(m.mediaType) && !isAttestation(entryPlatform(m)),
  );
  return [
    ...new Set(
      candidates
        .map((m) => m.platform ?? entryPlatform(m))
        .filter((p): p is Platform => p !== undefined)
        .map(formatPlatform),
    ),
  ];
}

/** The best index entry for `want` (see `rankPlatforms`). */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  return rankPlatforms(index, want)[0] as Descriptor;
}

/** How deep indexes may nest under the top one (an index of indexes of indexes…). */
export const MAX_INDEX_DEPTH = 4;

export interface ResolvedManifest {
  manifest: ImageManifest;
  digest: string;
  /** The index entries followed from the top, outermost first. */
  path: readonly Descriptor[];
}

const isZstd = (m: ImageManifest): boolean => m.layers.some((l) => l.mediaType.endsWith("+zstd"));

/**
 * Follow `index` (and indexes it points to, at most `MAX_INDEX_DEPTH` deep) down to the image
 * manifest for `want`. `fetch` reads and parses an entry's blob (verified against its digest).
 *
 * When one platform is offered both with zstd layers and with gzip or plain ones (BuildKit's
 * `compression=zstd,force-compression` pushes beside the gzip image, containerd's converters),
 * the gzip/plain one is taken whatever the index order: gvmconv reads both and the diff_ids are
 * the same, but gzip is the variant every client (Docker < 23, older skopeo, the Golem tooling)
 * resolves, so the manifest digest we report is the one users see elsewhere, and the choice does
 * not depend on the order a tool happened to write. The zstd one is used when it is all there is.
 */
export async function resolveManifest(
  index: ImageIndex,
  want: Platform,
  fetch: (entry: Descriptor) => Promise<ImageManifest | ImageIndex>,
  depth = 0,
  seen: ReadonlySet<string> = new Set(),
): Promise<ResolvedManifest> {
  if (depth >= MAX_INDEX_DEPTH)
    throw new InvalidManifestError(
      `image indexes nest more than ${MAX_INDEX_DEPTH} deep; gvmconv follows at most ${MAX_INDEX_DEPTH}`,
      { hint: "point gvmconv at an inner index or manifest by digest" },
    );
  const ranked = rankPlatforms(index, want);
  const first = ranked[0] as Descriptor;
  const samePlatform = ranked
    .filter(
      (m) =>
        m.mediaType === first.mediaType ||
        (!INDEX_TYPES.has(m.mediaType) && !INDEX_TYPES.has(first.mediaType)),
    )
    .filter((m) => {
      const a = entryPlatform(m);
      const b = entryPlatform(first);
      return a === undefined || b === undefined ? a === b : formatPlatform(a) === formatPlatform(b);
    });
  let fallback: ResolvedManifest | undefined;
  let lastError: unknown;
  for (const entry of samePlatform) {
    if (seen.has(entry.digest))
      throw new InvalidManifestError(`image index ${entry.digest} contains itself`, {
        hint: BROKEN_TOOL,
        digest: entry.digest,
      });
    const child = await fetch(entry);
    let got: ResolvedManifest;
    if (child.kind === "index") {
      try {
        const inner = await resolveManifest(child, want, fetch, depth + 1, new Set([...seen, entry.digest]));
        got = { ...inner, path: [entry, ...inner.path] };
      } catch (err) {
        // A platform-less nested index that lacks the platform: the next one may have it.
        if (entry.platform === undefined && isCodedNoMatch(err) && samePlatform.length > 1) {
          lastError = err;
          continue;
        }
        throw err;
      }
    } else got = { manifest: child, digest: entry.digest, path: [entry] };
    if (!isZstd(got.manifest)) return got;
    fallback ??= got;
  }
  if (fallback !== undefined) return fallback;
  throw lastError;
}

function isCodedNoMatch(err: unknown): boolean {
  return err instanceof NoMatchingPlatformError;
}
