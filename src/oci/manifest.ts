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
      cause: err,
      ...(digest !== undefined ? { digest } : {}),
    });
  }
  if (!isRecord(v))
    throw new InvalidManifestError(`${what} is not a JSON object`, digest !== undefined ? { digest } : {});
  return v;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) throw new InvalidManifestError(`${what}: descriptor is not an object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string") throw new InvalidManifestError(`${what}: descriptor has no mediaType`);
  if (typeof digest !== "string") throw new InvalidManifestError(`${what}: descriptor has no digest`);
  parseDigest(digest);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    throw new InvalidManifestError(`${what}: descriptor size is not a non-negative integer`);
  const d: Descriptor = { mediaType, digest, size };
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === "string");
  if (isRecord(v.annotations)) d.annotations = v.annotations as Record<string, string>;
  if (isRecord(v.platform)) {
    const p = v.platform;
    if (typeof p.os === "string" && typeof p.architecture === "string") {
      d.platform = {
        os: p.os,
        architecture: p.architecture,
        ...(typeof p.variant === "string" ? { variant: p.variant } : {}),
      };
    }
  }
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
  const declared = typeof json.mediaType === "string" ? json.mediaType : undefined;
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
    throw new InvalidManifestError(
      `manifest schemaVersion is ${String(json.schemaVersion)}, expected 2`,
      digest !== undefined ? { digest } : {},
    );
  const annotations = isRecord(json.annotations) ? (json.annotations as Record<string, string>) : undefined;
  if (mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList) {
    if (!Array.isArray(json.manifests)) throw new InvalidManifestError("index has no manifests array");
    const manifests = json.manifests.map((m, i) => parseDescriptor(m, `index entry ${i}`));
    return { kind: "index", mediaType, manifests, ...(annotations ? { annotations } : {}) };
  }
  if (mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest) {
    const config = parseDescriptor(json.config, "manifest config");
    if (!Array.isArray(json.layers)) throw new InvalidManifestError("manifest has no layers array");
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
  throw new UnsupportedMediaTypeError(mediaType, "manifest");
}

/** Parse and sanity-check an image config. */
export function parseImageConfig(bytes: Uint8Array, digest?: string): ImageConfig {
  const json = parseJson(bytes, "image config", digest);
  const rootfs = json.rootfs;
  if (!isRecord(rootfs) || !Array.isArray(rootfs.diff_ids))
    throw new InvalidManifestError(
      "image config has no rootfs.diff_ids",
      digest !== undefined ? { digest } : {},
    );
  for (const d of rootfs.diff_ids) {
    if (typeof d !== "string") throw new InvalidManifestError("image config has a non-string diff_id");
    parseDigest(d);
  }
  if (typeof json.os !== "string" || typeof json.architecture !== "string") {
    throw new InvalidManifestError(
      "image config has no os/architecture",
      digest !== undefined ? { digest } : {},
    );
  }
  return json as unknown as ImageConfig;
}

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

/** Parse `os/arch[/variant]`; `linux/amd64` is the default. */
export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
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
 * Pick the index entry for `want` (image-index.md): os and architecture must match; an exact
 * variant wins, then an entry without a variant, then (arm only) the closest lower variant
 * (v7 runs v6 code). `unknown/unknown` entries are attestations and never chosen.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  const w = normalizePlatform(want);
  const candidates = index.manifests.filter(
    (m) =>
      m.platform !== undefined && !(m.platform.os === "unknown" && m.platform.architecture === "unknown"),
  );
  const matching = candidates.filter((m) => {
    const p = normalizePlatform(m.platform as Platform);
    return p.os === w.os && p.architecture === w.architecture;
  });
  const variantOf = (m: Descriptor): string | undefined => normalizePlatform(m.platform as Platform).variant;
  const exact = matching.find((m) => variantOf(m) === w.variant);
  if (exact !== undefined) return exact;
  if (w.variant === undefined) {
    // No variant asked for: any variant is acceptable, the highest first (arm: v8 > v7 > v6).
    const sorted = [...matching].sort((a, b) => (variantOf(b) ?? "").localeCompare(variantOf(a) ?? ""));
    if (sorted[0] !== undefined) return sorted[0];
  } else {
    const noVariant = matching.find((m) => variantOf(m) === undefined);
    if (noVariant !== undefined) return noVariant;
    const num = (v: string | undefined): number => Number(/^v(\d+)$/.exec(v ?? "")?.[1] ?? NaN);
    const lower = matching
      .filter((m) => num(variantOf(m)) < num(w.variant))
      .sort((a, b) => num(variantOf(b)) - num(variantOf(a)));
    if (lower[0] !== undefined) return lower[0];
  }
  const available = [...new Set(candidates.map((m) => formatPlatform(m.platform as Platform)))];
  throw new NoMatchingPlatformError(formatPlatform(w), available);
}
