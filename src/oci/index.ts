/**
 * Bringing an image in: parse a source string, open it, read its config and verified layers.
 *
 *   const image = await openImage(parseSource("alpine:3.20"), { platform: "linux/amd64", env });
 *   await image.fetchLayers();
 *   for (let i = 0; i < image.layers.length; i++) consume(await image.openLayer(i));
 *   await image.close();
 */
import { openRegistryImage } from "./sources/registry.js";
import { openDockerArchive } from "./sources/docker-archive.js";
import { openDockerDaemon, openFromLocalEngine, openImageById } from "./sources/docker-daemon.js";
import { openOciArchive, openOciLayout } from "./sources/oci-layout.js";
import { resolveOptions, type OpenImageOptions } from "./options.js";
import { parseSource, type ImageSource } from "./source.js";
import type { Image } from "./image.js";

export type { Image, LayerDescriptor, OpenLayerOptions } from "./image.js";
export type { OpenImageOptions } from "./options.js";
export { parseSource, type ImageSource } from "./source.js";
export {
  parseReference,
  isLoopbackRegistry,
  DOCKER_HUB,
  DOCKER_HUB_ENDPOINT,
  type Reference,
} from "./reference.js";
export { parseDigest, digestOf, isDigest } from "./digest.js";
export {
  MediaType,
  parsePlatform,
  formatPlatform,
  normalizePlatform,
  selectPlatform,
  rankPlatforms,
  resolveManifest,
  MAX_INDEX_DEPTH,
  type ResolvedManifest,
  type Platform,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type ImageIndex,
} from "./manifest.js";
export {
  defaultCredentialSource,
  type Credentials,
  type CredentialSource,
  type CredentialOptions,
} from "./credentials.js";
export { BlobCache, defaultCacheDir } from "./blob-cache.js";
export { RegistryClient } from "./registry-client.js";
export * from "./errors.js";

/** Open an image from a source string or a parsed source. Call `close()` when done. */
export async function openImage(source: ImageSource | string, options: OpenImageOptions): Promise<Image> {
  const src = typeof source === "string" ? parseSource(source) : source;
  const opts = resolveOptions(options);
  switch (src.transport) {
    case "docker": {
      // As gvmkit-build does (builder.rs: inspect_image first, pull only when that fails): a
      // name the local engine has is the image the user just built, not a registry namesake.
      if (src.engineName !== undefined && opts.engine) {
        const local = await openFromLocalEngine(src.engineName, src.reference, opts);
        if (local !== undefined) return local;
      }
      return await openRegistryImage(src.reference, opts);
    }
    case "image-id":
      return await openImageById(src.id, opts);
    case "oci":
      return await openOciLayout(src.path, src.ref, opts);
    case "oci-archive":
      return await openOciArchive(src.path, src.ref, opts);
    case "docker-archive":
      return await openDockerArchive(src.path, src.ref, opts);
    case "docker-daemon":
      return await openDockerDaemon(src.name, src.reference, opts);
  }
}
