/**
 * The image every source yields: parsed config, layer descriptors, and verified uncompressed
 * layer streams. Sources differ only in how they reach a layer's raw blob (`LayerStore`).
 */
import { PassThrough, type Readable } from "node:stream";
import PQueue from "p-queue";
import { markDecompressed } from "../decompress.js";
import { silentReporter, type Reporter } from "../reporter.js";
import { InvalidManifestError } from "./errors.js";
import { decompressLayer } from "./layer-stream.js";
import {
  formatPlatform,
  normalizePlatform,
  type Descriptor,
  type ImageConfig,
  type Platform,
} from "./manifest.js";
import type { Reference } from "./reference.js";

export interface LayerDescriptor extends Descriptor {
  /** Position in the manifest (0 = base layer). */
  readonly index: number;
  /** `rootfs.diff_ids[index]`: digest of the uncompressed tar. */
  readonly diffId: string;
}

export interface Image {
  /** Which kind of source this came from: `docker`, `oci`, `oci-archive`, `docker-archive`, `docker-daemon`. */
  readonly transport: string;
  /** The registry reference, for registry and daemon sources and archives that name one. */
  readonly reference: Reference | undefined;
  /** Digest of the image manifest, when there is one (not for legacy `docker save` archives). */
  readonly manifestDigest: string | undefined;
  /**
   * Digest of what the reference named, when that was an index the manifest was chosen from
   * (a multi-platform image); else the manifest's. A pinned `name@sha256:…` is usually this one.
   */
  readonly topDigest?: string | undefined;
  /** Digest of the config blob: the image id. */
  readonly configDigest: string;
  /** The parsed image config. */
  readonly config: ImageConfig;
  /** The config's exact bytes (hash them to get `configDigest`). */
  readonly configBytes: Buffer;
  /** The platform of the image (from its config). */
  readonly platform: Platform;
  /** The platforms the source offers (a multi-platform index's entries), else this image's own. */
  readonly platforms: readonly string[];
  readonly layers: readonly LayerDescriptor[];
  /**
   * Make all layer blobs available locally (download them into the cache, bounded parallelism,
   * topmost layer first, progress through the reporter). Optional before `openLayer`, which
   * fetches what it lacks; call it without waiting to merge layers while others download. A
   * layer still downloading (or queued) when `openLayer` asks for it is streamed as it arrives,
   * when the store can follow its downloads; else `openLayer` waits for that download.
   */
  fetchLayers(): Promise<void>;
  /**
   * The uncompressed tar of layer `i`. The blob's digest has been verified (registry: before it
   * entered the cache) or is verified as it streams (local files); the uncompressed stream is
   * checked against `diffId` and errors at its end if it differs. Read it to the end. A layer
   * read while it downloads ends only once its blob's digest has been verified (and fails if not),
   * and a failed download surfaces as an error on the stream.
   */
  openLayer(i: number, options?: OpenLayerOptions): Promise<Readable>;
  /** Release connections and temporary files. Idempotent. */
  close(): Promise<void>;
}

export interface OpenLayerOptions {
  /**
   * Told, as the layer is read, how many bytes of the blob and of its uncompressed tar have gone
   * by (running totals; equal for an uncompressed layer): what a writing bar measures.
   */
  onProgress?: (compressed: number, uncompressed: number) => void;
}

/** How a source reaches a layer's raw (possibly compressed) blob. */
export interface LayerStore {
  /** Make the blob available locally; `advance` reports bytes. No-op for local sources. */
  fetch(layer: LayerDescriptor, advance: (bytes: number) => void): Promise<void>;
  /** True when `fetch` would do nothing. */
  isLocal(layer: LayerDescriptor): Promise<boolean>;
  /** The raw blob, verified against `layer.digest` (now or at end of stream) unless the source has no blob digest. */
  openRaw(layer: LayerDescriptor): Promise<Readable>;
  /**
   * The raw blob as `fetch` brings it in, read while it downloads; `settled` is the fetch (or the
   * check that made it unneeded). Verified like `openRaw`, and ending only after the download's
   * digest check. Stores without it make `openLayer` wait for the whole download.
   */
  follow?(layer: LayerDescriptor, settled: Promise<void>): Readable;
  close(): Promise<void>;
}

export interface ImageParts {
  transport: string;
  reference: Reference | undefined;
  manifestDigest: string | undefined;
  /** See Image.topDigest; default `manifestDigest`. */
  topDigest?: string | undefined;
  configDigest: string;
  configBytes: Buffer;
  config: ImageConfig;
  /** Layer descriptors of the manifest, in order. */
  layers: readonly Descriptor[];
  store: LayerStore;
  reporter?: Reporter;
  /** Parallel downloads in `fetchLayers` (default 4). */
  concurrency?: number;
  maxRatio?: number;
  /** The platforms a multi-platform index offered (default: the image's own). */
  platforms?: readonly string[];
  /** Platform asked for; a config for another one is reported as a warning. */
  requestedPlatform?: Platform;
  /** Extra cleanup (temporary files). */
  onClose?: () => Promise<void>;
}

/** Pair manifest layers with diff_ids and build the image. */
export function makeImage(parts: ImageParts): Image {
  const diffIds = parts.config.rootfs.diff_ids;
  if (diffIds.length !== parts.layers.length) {
    throw new InvalidManifestError(
      `the manifest lists ${parts.layers.length} layers but the config has ${diffIds.length} diff_ids`,
      { digest: parts.configDigest },
    );
  }
  const layers: LayerDescriptor[] = parts.layers.map((d, index) => ({
    ...d,
    index,
    diffId: diffIds[index] as string,
  }));
  const platform = normalizePlatform({
    os: parts.config.os,
    architecture: parts.config.architecture,
    ...(parts.config.variant !== undefined ? { variant: parts.config.variant } : {}),
  });
  const reporter = parts.reporter ?? silentReporter;
  if (parts.requestedPlatform !== undefined) {
    const want = normalizePlatform(parts.requestedPlatform);
    if (want.os !== platform.os || want.architecture !== platform.architecture) {
      reporter.warn({
        code: "W_OCI_PLATFORM_MISMATCH",
        message:
          platform.os === "" && platform.architecture === ""
            ? `asked for ${formatPlatform(want)} but the image names no platform (its config's os and architecture are empty)`
            : `asked for ${formatPlatform(want)} but the image is ${formatPlatform(platform)} (it has no multi-platform index)`,
      });
    }
  }
  let closed = false;
  let fetched: Promise<void> | undefined;
  /** The downloads fetchLayers queued, by blob digest. */
  const downloads = new Map<string, Promise<void>>();
  const image: Image = {
    transport: parts.transport,
    reference: parts.reference,
    manifestDigest: parts.manifestDigest,
    topDigest: parts.topDigest ?? parts.manifestDigest,
    configDigest: parts.configDigest,
    configBytes: parts.configBytes,
    config: parts.config,
    platform,
    platforms: parts.platforms ?? [formatPlatform(platform)],
    layers,
    fetchLayers() {
      fetched ??= (async () => {
        const queue = new PQueue({ concurrency: parts.concurrency ?? 4 });
        const jobs: Promise<void>[] = [];
        // One total over the layers this call downloads; each layer in flight has its own line.
        let toFetch = layers.reduce((n, l) => (downloads.has(l.digest) ? n : n + l.size), 0);
        const total = reporter.task("download", toFetch, { kind: "download" });
        // Topmost first: the merge reads the layers top-down, so it can start on the top ones
        // while the (usually larger) base is still downloading.
        for (const layer of [...layers].reverse()) {
          if (downloads.has(layer.digest)) continue;
          // Registered before any await, so an openLayer called right after this sees it.
          const job = queue.add(async () => {
            if (await parts.store.isLocal(layer)) {
              toFetch -= layer.size;
              total.setTotal(toFetch);
              return;
            }
            const task = reporter.task(
              `layer ${layer.index + 1}/${layers.length} ${layer.digest.slice(7, 19)}`,
              layer.size,
              { kind: "layer" },
            );
            try {
              await parts.store.fetch(layer, (n) => {
                task.advance(n);
                total.advance(n);
              });
            } finally {
              task.done();
            }
          });
          // openLayer awaits it too; until then a failure must not count as unhandled.
          job.catch(() => undefined);
          downloads.set(layer.digest, job);
          jobs.push(job);
        }
        // Settle everything before failing so no download is left writing in the background.
        const results = await Promise.allSettled(jobs);
        total.done();
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed !== undefined) throw failed.reason;
      })();
      const p = fetched;
      p.catch(() => {
        if (fetched === p) {
          fetched = undefined; // allow a retry after a failure
          downloads.clear();
        }
      });
      return p;
    },
    async openLayer(i, options = {}) {
      const layer = layers[i];
      if (layer === undefined)
        throw new RangeError(`layer index ${i} out of range (0..${layers.length - 1})`);
      // A download fetchLayers queued is joined (followed from when the queue starts it), not
      // repeated; its failure is this layer's.
      const settled =
        downloads.get(layer.digest) ??
        (async () => {
          if (!(await parts.store.isLocal(layer))) await parts.store.fetch(layer, () => {});
        })();
      const decompressOptions = {
        diffId: layer.diffId,
        layerIndex: i,
        ...(parts.maxRatio !== undefined ? { maxRatio: parts.maxRatio } : {}),
        ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
      };
      if (parts.store.follow === undefined) {
        await settled;
        return await decompressLayer(await parts.store.openRaw(layer), decompressOptions);
      }
      settled.catch(() => undefined); // the stream reports it
      // Bytes read during the download are not yet verified: when they fail to decompress, the
      // cause to report is the download's (a digest mismatch, say), once it has one.
      const cause = async (err: unknown): Promise<unknown> =>
        await settled.then(
          () => err,
          (downloadErr: unknown) => downloadErr,
        );
      let out: Readable;
      try {
        out = await decompressLayer(parts.store.follow(layer, settled), decompressOptions);
      } catch (err) {
        throw await cause(err);
      }
      const guarded = markDecompressed(new PassThrough({ readableHighWaterMark: out.readableHighWaterMark }));
      out.on("error", (err) => void cause(err).then((e) => guarded.destroy(e as Error)));
      guarded.on("close", () => out.destroy());
      return out.pipe(guarded);
    },
    async close() {
      if (closed) return;
      closed = true;
      await parts.store.close();
      await parts.onClose?.();
    },
  };
  return image;
}
