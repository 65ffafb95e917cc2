/**
 * `docker://REF` and bare references: resolve the tag (and the platform in an index), fetch the
 * config, and download layers into the verified cache. Manifests addressed by digest and configs
 * are cached too, so a second conversion of the same image asks the registry for the tag only,
 * and nothing at all when the reference is pinned by digest.
 */
import { digestOf } from "../digest.js";
import { makeImage, type Image } from "../image.js";
import {
  MAX_CONFIG_BYTES,
  offeredPlatforms,
  parseImageConfig,
  parseManifest,
  resolveManifest,
  type ImageIndex,
  type ImageManifest,
} from "../manifest.js";
import type { ResolvedOptions } from "../options.js";
import { withDigest, type Reference } from "../reference.js";
import { RegistryClient, type BlobResponse } from "../registry-client.js";
import { GvmconvError } from "../../errors.js";
import { NotFoundError, TooLargeError } from "../errors.js";

export async function openRegistryImage(ref: Reference, opts: ResolvedOptions): Promise<Image> {
  const client = new RegistryClient(ref.registry, ref.endpoint, {
    insecure: opts.insecure,
    credentials: opts.credentials,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
    timeouts: opts.timeouts,
    tokenCache: opts.tokenCache,
    onRetry: (notice) => opts.reporter.retry?.(notice),
  });
  try {
    const { cache } = opts;
    const repo = ref.repository;

    const getManifest = async (
      reference: string,
      mediaType?: string,
    ): Promise<{ m: ImageManifest | ImageIndex; digest: string; bytes: Buffer }> => {
      if (reference.includes(":")) {
        const cached = await cache.readBytes(reference);
        if (cached !== undefined)
          return { m: parseManifest(cached, mediaType, reference), digest: reference, bytes: cached };
      }
      const got = await client.getManifest(repo, reference);
      await cache.putBytes(got.digest, got.bytes);
      return {
        m: parseManifest(got.bytes, got.mediaType ?? mediaType, got.digest),
        digest: got.digest,
        bytes: got.bytes,
      };
    };

    const top = await getManifest(ref.ref);
    let manifest: ImageManifest;
    let manifestDigest = top.digest;
    if (top.m.kind === "index") {
      const resolved = await resolveManifest(
        top.m,
        opts.platform,
        async (desc) => (await getManifest(desc.digest, desc.mediaType)).m,
      );
      manifest = resolved.manifest;
      manifestDigest = resolved.digest;
    } else {
      manifest = top.m;
    }

    const cd = manifest.config.digest;
    if (manifest.config.size > MAX_CONFIG_BYTES) {
      throw new TooLargeError(
        `image config is ${manifest.config.size} bytes, more than ${MAX_CONFIG_BYTES}`,
        MAX_CONFIG_BYTES,
        { digest: cd },
      );
    }
    let configBytes = await cache.readBytes(cd);
    if (configBytes === undefined) {
      configBytes = await client.getBlobBytes(repo, cd, MAX_CONFIG_BYTES);
      await cache.putBytes(cd, configBytes);
    }
    const config = parseImageConfig(configBytes, cd);

    const opener =
      (urls: readonly string[] | undefined, digest: string) =>
      async (offset: number): Promise<BlobResponse> => {
        // Non-distributable layers (image-spec descriptor.md `urls`): try the http(s) URLs (no
        // credentials go there), then the registry, which may hold a copy.
        const tried = (urls ?? []).filter((u) => /^https?:\/\//.test(u));
        const failures: string[] = [];
        for (const u of tried) {
          try {
            return await client.openUrl(u, offset);
          } catch (err) {
            failures.push(`${u}: ${(err as Error).message}`);
          }
        }
        try {
          return await client.openBlob(repo, digest, offset);
        } catch (err) {
          if (tried.length === 0 || !(err instanceof NotFoundError)) throw err;
          throw new GvmconvError(
            "E_OCI_FOREIGN_LAYER",
            `non-distributable layer ${digest} is not at its urls (${failures.join("; ")}) nor in the registry`,
            {
              hint: "the host named in the layer's urls no longer serves it; rebuild the image without non-distributable layers, or push it with them included",
              cause: err,
            },
          );
        }
      };

    return makeImage({
      transport: "docker",
      reference: withDigest(ref, top.digest),
      manifestDigest,
      topDigest: top.digest,
      configDigest: digestOf(configBytes),
      configBytes,
      config,
      layers: manifest.layers,
      reporter: opts.reporter,
      concurrency: opts.concurrency,
      requestedPlatform: opts.platform,
      ...(top.m.kind === "index" ? { platforms: offeredPlatforms(top.m) } : {}),
      ...(opts.maxRatio !== undefined ? { maxRatio: opts.maxRatio } : {}),
      store: {
        async fetch(layer, advance) {
          await cache.ingest(layer.digest, opener(layer.urls, layer.digest), {
            size: layer.size,
            task: { advance, setTotal() {}, done() {} },
            retries: opts.retries,
            retryDelayMs: opts.retryDelayMs,
            ...(opts.timeouts.totalMs !== undefined ? { deadlineMs: opts.timeouts.totalMs } : {}),
            ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
            onRetry: (notice) => opts.reporter.retry?.(notice),
          });
        },
        async isLocal(layer) {
          return await cache.has(layer.digest, layer.size);
        },
        async openRaw(layer) {
          return Promise.resolve(cache.openRead(layer.digest, layer.size));
        },
        follow(layer, settled) {
          return cache.follow(layer.digest, layer.size, settled);
        },
        async close() {
          await client.close();
        },
      },
    });
  } catch (err) {
    await client.close();
    throw err;
  }
}
