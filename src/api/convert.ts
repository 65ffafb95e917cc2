/**
 * The conversion pipeline: source → oci → layers → squashfs → gvmi.
 *
 *   image   = openImage(source)                    registry, oci:, docker-archive:, …
 *   entries = mergeLayers(layers, topmost first)   whiteouts applied as entries stream by
 *   writer.add(entry) for each                     file data compressed as it arrives
 *   (+ the mount points the VM's init needs)       gvmi only
 *   writer.finish(); appendTrailer(config)         gvmi only: CRC32 + JSON + length
 *   rename the temporary file into place
 *
 * Nothing is extracted to disk: each layer is decompressed once, top-down, and every surviving
 * file streams straight into the writer. The library never prints: progress and warnings go to
 * the Reporter.
 */
import { mkdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";

import { checkOutputPath, writeAtomically } from "../atomic-output.js";
import { contextOf, type RunContext, type RunOptions } from "../context.js";
import { AbortedError, GvmconvError } from "../errors.js";
import {
  appendTrailer,
  buildContainerConfig,
  defaultOutputName,
  missingMountPoints,
  MOUNT_POINTS,
  MountPointScan,
  readGvmiTrailer,
  sha3File,
  type ContainerConfig,
  type ContainerConfigOverrides,
} from "../gvmi/index.js";
import { mergeLayers, readTar, type LayerSource } from "../layers/index.js";
import { formatPlatform, openImage, parseSource, type Image, type OpenImageOptions } from "../oci/index.js";
import { silentReporter, type Reporter, type Warning } from "../reporter.js";
import {
  byteOptions,
  checkOwnOutput,
  decideOutput,
  fingerprint,
  recordOutput,
  type OutputDecision,
  type OutputExpectation,
} from "./output-policy.js";
import { WriteProgress } from "./write-progress.js";
import { warnGzipFallback, writerOptions, type ConvertWriterOptions } from "./writer-options.js";
import { checkWriterOptions, SquashfsWriter, type Entry, type WriteResult } from "../squashfs/index.js";

export type OutputFormat = "gvmi" | "squashfs";

export { type ConvertWriterOptions, warnGzipFallback, writerOptions } from "./writer-options.js";

/**
 * What to convert how. The run itself — environment, reporter, `strict`, `signal`, `mkfsTime` —
 * is given as in every use case (see context.ts), or as a ready `context`.
 */
export interface ConvertOptions extends RunOptions {
  /** Output path. Default for gvmi: `<repo>-<tag>-<10 hex of image id>.gvmi` in `outputDir`. Required for squashfs. */
  output?: string;
  /** Directory for the default output name, created when missing. Default: the current directory. */
  outputDir?: string;
  /** `gvmi` (default): what Golem providers boot. `squashfs`: the root filesystem alone. */
  format?: OutputFormat;
  /**
   * Rebuild and replace an existing output. Without it, an output built from the same image with
   * the same options is kept, one built otherwise is rebuilt, and a file gvmconv did not write
   * is refused (`E_OUTPUT_NOT_OURS`; see output-policy.ts).
   */
  force?: boolean;
  /**
   * Options for opening the image (platform, cache, credentials, insecure registries, …);
   * `engine: false` sends plain names to the registry without asking a local engine first.
   */
  image?: Omit<OpenImageOptions, "reporter" | "signal" | "env">;
  /** SquashFS writer options (compression, level, block size, workers). */
  writer?: ConvertWriterOptions;
  /** Changes to the image's runtime config (gvmi only). */
  overrides?: ContainerConfigOverrides;
  /**
   * Add the mount points the VM's init needs and a container export carries (/proc, /sys, /dev,
   * /tmp, /etc, /dev/pts, /etc/hosts, …; see gvmi/mount-points.ts) where the image lacks them
   * (gvmi default true).
   */
  addMountPoints?: boolean;
}

export interface ConvertResult {
  format: OutputFormat;
  outputPath: string;
  /** True when an existing output built from the same image with the same options was kept (not rebuilt). */
  kept: boolean;
  /** Size of the output file in bytes. */
  size: number;
  /** SHA3-224 of the output file (gvmi: what providers verify); lowercase hex. */
  sha3: string;
  /** The image id, `sha256:<hex>` (digest of the image config). */
  imageId: string;
  /** Familiar reference (`user/img:tag`) when the source had one. */
  reference: string | undefined;
  /** The ContainerConfig in the trailer (gvmi; also for a kept output). */
  containerConfig: ContainerConfig | undefined;
  /** Mount points added to the tree, e.g. `/proc`, `/etc/hosts` (gvmi). */
  addedMountPoints: string[];
  /** SquashFS statistics; absent when an existing output was kept. */
  squashfs: WriteResult | undefined;
  /** Warnings reported during the conversion (for a kept output: those about the image and options). */
  warnings: Warning[];
}

/** The output path is missing where the format needs one. */
export class OutputRequiredError extends GvmconvError {
  constructor() {
    super("E_OUTPUT_REQUIRED", "an output path is required for --format squashfs", {
      hint: "pass -o FILE.squashfs",
    });
  }
}

/** Files the runtime config needs from the merged tree (only with keepUser); small, so buffered. */
const USER_FILES = new Set(["etc/passwd", "etc/group"]);
const MAX_USER_FILE = 4 * 1024 * 1024;

/** The input files of a path transport (oci-archive:, docker-archive:) that an output must not be. */
function archiveInputs(source: string): string[] {
  try {
    const parsed = parseSource(source);
    return parsed.transport === "oci-archive" || parsed.transport === "docker-archive" ? [parsed.path] : [];
  } catch {
    return [];
  }
}

/**
 * What `convert` works out before it reads a layer, shared by `convert` and `planConvert`: the
 * output path, the trailer it will write (so --env/--volume mistakes and the warnings about the
 * image come before any download), and what it would do about an existing output.
 */
interface Prepared {
  format: OutputFormat;
  outputPath: string;
  inputs: string[];
  /** Why the output path cannot be written (checkOutputPath), found before any warning. */
  refusal: GvmconvError | undefined;
  containerConfig: ContainerConfig | undefined;
  expectation: OutputExpectation;
}

async function prepare(
  image: Image,
  source: string,
  options: ConvertOptions,
  context: RunContext,
  mode: "convert" | "plan",
): Promise<Prepared> {
  const format = options.format ?? "gvmi";
  const reporter = context.reporter;
  const outputPath = resolve(options.output ?? join(options.outputDir ?? ".", defaultName(image, source)));
  const writer = writerOptions(options.writer, context, options.image?.cacheDir);
  const inputs = archiveInputs(source);
  // `-o` naming the archive being read, or a device: refused before the warnings about the image.
  const refusal = await checkOutputPath(outputPath, inputs).then(
    () => undefined,
    (err: unknown) => {
      if (err instanceof GvmconvError) return err;
      throw err;
    },
  );
  if (mode === "convert") {
    if (refusal !== undefined) throw refusal;
    await checkOwnOutput(outputPath, format, options.force ?? false);
  }
  if (format === "squashfs") {
    const id = { v: 1, format, imageId: image.configDigest, writer: byteOptions(writer) };
    return {
      format,
      outputPath,
      inputs,
      refusal,
      containerConfig: undefined,
      expectation: { format, fingerprint: fingerprint(id), writer },
    };
  }
  if (image.platform.os !== "linux" || image.platform.architecture !== "amd64") {
    reporter.warn({
      code: "W_GVMI_PLATFORM_NOT_AMD64",
      message: `${image.platform.os === "" && image.platform.architecture === "" ? "the image names no platform" : `the image is ${formatPlatform(image.platform)}`}: Golem VMs run linux/amd64 and may not run it (pick --platform linux/amd64 if the image offers it)`,
    });
  }
  // With --keep-user the User comes from the layers' /etc/passwd; the rest is known now.
  // So does a build file's `config.user`, resolved through the same files.
  const { user: userOverride, ...overrides } = options.overrides ?? {};
  const keepUser = overrides.keepUser === true;
  const laterUser = keepUser || userOverride !== undefined;
  const containerConfig = buildContainerConfig({
    imageId: image.configDigest,
    config: image.config.config ?? null,
    overrides: { ...overrides, keepUser: false },
    reporter: laterUser ? withoutUserDropped(reporter) : reporter,
  });
  const imageUser = image.config.config?.User;
  const userFromLayers =
    userOverride !== undefined || (keepUser && typeof imageUser === "string" && imageUser.trim() !== "");
  if (userFromLayers) delete containerConfig.User;
  return {
    format,
    outputPath,
    inputs,
    refusal,
    containerConfig,
    expectation: {
      format,
      containerConfig,
      userFromLayers,
      writer,
      mountPoints:
        options.addMountPoints === false
          ? []
          : MOUNT_POINTS.filter((m) => !m.path.includes("/")).map((m) => m.path),
    },
  };
}

/**
 * The reporter, passing everything but W_GVMI_USER_DROPPED (USER is kept with --keep-user). A
 * proxy, so that whatever else a reporter offers (progress events) still reaches it.
 */
function withoutUserDropped(reporter: Reporter): Reporter {
  const warn = (warning: Warning): void => {
    if (warning.code !== "W_GVMI_USER_DROPPED") reporter.warn(warning);
  };
  return new Proxy(reporter, {
    get(target, prop) {
      if (prop === "warn") return warn;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The caller's stop, as the one coded failure it is; any other failure as it was. */
function abortedOr(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted !== true || err instanceof AbortedError) return err;
  return new AbortedError(err);
}

/**
 * What a build (src/build) adds to one conversion; `convert` itself passes none. Internal: not
 * exported from src/index.ts.
 */
export interface ConvertRecipe {
  /** Layers placed above the image's, TOPMOST FIRST, merged with the same whiteout rules. */
  extraLayers?: readonly LayerSource[];
  /** Called once the image is open, before any layer is read: may check it (a pinned digest) and throw. */
  onImage?: (image: Image) => void;
}

/** Convert an image to a .gvmi (or a plain SquashFS image). */
export async function convert(source: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  return await convertImage(source, options, {});
}

/** `convert`, with the additions of a build step (see ConvertRecipe). */
export async function convertImage(
  source: string,
  options: ConvertOptions,
  recipe: ConvertRecipe,
): Promise<ConvertResult> {
  const context = contextOf(options);
  // A bad level or a missing compressor library fails here, before any download.
  const compressor = checkWriterOptions(writerOptions(options.writer, context, options.image?.cacheDir));
  const reporter = context.reporter;
  // This call's warnings only: a context may serve several use cases (convert, then push).
  const firstWarning = context.warnings.length;
  warnGzipFallback(compressor, context);
  const warnings = (): Warning[] => context.warnings.slice(firstWarning);
  const format = options.format ?? "gvmi";
  if (format === "squashfs" && options.output === undefined) throw new OutputRequiredError();

  // One signal for everything this run starts: the caller's, and our own to stop the downloads
  // when the build fails, or the build when a download fails.
  const stop = new AbortController();
  const outerSignal = context.signal;
  const forward = (): void => stop.abort(outerSignal?.reason);
  if (outerSignal?.aborted === true) forward();
  outerSignal?.addEventListener("abort", forward, { once: true });
  const signal = stop.signal;
  let image: Image;
  // The seconds before the first byte (token, manifest, config) are labelled, not blank.
  const resolving = reporter.task(`resolving ${source}`, undefined, { kind: "resolve" });
  try {
    const { timeouts, retries, retryDelayMs } = context.network;
    image = await openImage(source, {
      timeouts,
      ...(retries !== undefined ? { retries } : {}),
      ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
      ...options.image,
      env: context.env,
      reporter,
      signal,
    });
  } catch (err) {
    outerSignal?.removeEventListener("abort", forward);
    throw abortedOr(err, outerSignal);
  } finally {
    resolving.done();
  }
  let fetching: Promise<void> | undefined;
  try {
    recipe.onImage?.(image);
    const imageId = image.configDigest;
    // Everything known without a layer — the trailer, the warnings, the output decision — before
    // the first layer is requested.
    const prepared = await prepare(image, source, options, context, "convert");
    const { outputPath, inputs } = prepared;
    if (options.output === undefined && options.outputDir !== undefined)
      await mkdir(options.outputDir, { recursive: true });
    const base = { format, outputPath, imageId, reference: image.reference?.familiar };
    const decision = await decideOutput(outputPath, prepared.expectation, options.force ?? false);
    if (decision.action === "keep") {
      reporter.info(
        `${outputPath} was already built from ${imageId} with these options; kept (pass --force to rebuild)`,
      );
      const { size } = await stat(outputPath);
      const { sha3 } = await hashWithProgress(reporter, size, (onBytes) => sha3File(outputPath, onBytes));
      signal.throwIfAborted();
      return {
        ...base,
        kept: true,
        size,
        sha3,
        squashfs: undefined,
        containerConfig:
          format === "gvmi" ? await keptConfig(outputPath, prepared.containerConfig) : undefined,
        addedMountPoints: [],
        warnings: warnings(),
      };
    }

    // The merge starts at once (topmost first) while the layers download: the layer it reads is
    // streamed as its bytes arrive (teed into the verified cache), the others download to the
    // cache in parallel. A failed download stops the merge at its next entry rather than when it
    // reaches that layer, and the output is renamed into place only after `fetching` has verified
    // every layer's digest.
    fetching = image.fetchLayers();
    fetching.catch((err: unknown) => stop.abort(err));
    const result = await writeAtomically(outputPath, { force: replaces(decision), inputs }, async (temp) => {
      const built = await buildFilesystem(image, temp, format, options, recipe, context, signal);
      await fetching;
      if (format === "squashfs") {
        const size = built.squashfs.imageSize;
        const { sha3 } = await hashWithProgress(reporter, size, (onBytes) => sha3File(temp, onBytes));
        signal.throwIfAborted();
        return {
          ...base,
          kept: false,
          size: built.squashfs.imageSize,
          sha3,
          squashfs: built.squashfs,
          containerConfig: undefined,
          addedMountPoints: [],
          warnings: warnings(),
        };
      }
      // Built before the layers were read; again only with --keep-user, whose User needed them.
      const containerConfig =
        options.overrides?.keepUser === true || options.overrides?.user !== undefined
          ? buildContainerConfig({
              imageId,
              config: image.config.config ?? null,
              overrides: options.overrides,
              userFiles: built.userFiles,
              reporter: silentReporter,
            })
          : prepared.containerConfig!;
      const { size, sha3 } = await hashWithProgress(reporter, built.squashfs.imageSize, (onBytes) =>
        appendTrailer(temp, containerConfig, onBytes),
      );
      signal.throwIfAborted();
      return {
        ...base,
        kept: false,
        size,
        sha3,
        squashfs: built.squashfs,
        containerConfig,
        addedMountPoints: built.addedMountPoints,
        warnings: warnings(),
      };
    });
    if (prepared.expectation.format === "squashfs")
      await recordOutput(outputPath, prepared.expectation.fingerprint);
    return result;
  } catch (err) {
    stop.abort(err);
    throw abortedOr(err, outerSignal);
  } finally {
    // No download is left writing into the cache once convert() has returned.
    await fetching?.catch(() => undefined);
    await image.close();
    outerSignal?.removeEventListener("abort", forward);
  }
}

function replaces(decision: OutputDecision): boolean {
  return decision.action === "replace";
}

/** The kept file's own trailer (its User may have come from the layers). */
async function keptConfig(
  path: string,
  expected: ContainerConfig | undefined,
): Promise<ContainerConfig | undefined> {
  try {
    return (await readGvmiTrailer(path)).config as ContainerConfig;
  } catch {
    return expected;
  }
}

/** What `planConvert` reports: everything `convert` would do, worked out without reading a layer. */
export interface ConvertPlan {
  source: string;
  /** `docker`, `oci`, `oci-archive`, `docker-archive`, `docker-daemon`. */
  transport: string;
  /** Familiar reference (`user/img:tag`) when the source has one. */
  reference: string | undefined;
  /** The digest the reference resolved to (the index's or manifest's, as the registry serves it). */
  digest: string | undefined;
  /** The image manifest picked for the platform. */
  manifestDigest: string | undefined;
  /** The image id, `sha256:<hex>`. */
  imageId: string;
  /** The platform of the image picked, `os/arch[/variant]`. */
  platform: string;
  /** The platforms the source offers. */
  platforms: string[];
  format: OutputFormat;
  outputPath: string;
  /** What would happen to the output path: written, kept as it is, rebuilt over, or refused. */
  output: "create" | "keep" | "replace" | "refuse";
  /** The trailer that would be written (gvmi); with --keep-user its User is resolved only from the layers. */
  containerConfig: ContainerConfig | undefined;
  /**
   * The mount points that are added where the image lacks them (gvmi); which of them the image
   * already has is known only once its layers are read.
   */
  mountPoints: string[];
  layers: { digest: string; mediaType: string; size: number }[];
  /** Sum of the compressed layer sizes: what a cold cache downloads. */
  downloadSize: number;
  warnings: Warning[];
}

/**
 * `gvmconv SOURCE --dry-run` and `gvmconv inspect REF`: resolve the image (manifest and config
 * only; no layer is downloaded or read) and report what `convert` with the same options would
 * write, without writing anything.
 */
export async function planConvert(source: string, options: ConvertOptions = {}): Promise<ConvertPlan> {
  const context = contextOf(options);
  checkWriterOptions(writerOptions(options.writer, context, options.image?.cacheDir));
  const firstWarning = context.warnings.length;
  const format = options.format ?? "gvmi";
  if (format === "squashfs" && options.output === undefined) throw new OutputRequiredError();
  let image: Image;
  try {
    image = await openImage(source, {
      ...options.image,
      env: context.env,
      reporter: context.reporter,
      signal: context.signal,
    });
  } catch (err) {
    throw abortedOr(err, context.signal);
  }
  try {
    const prepared = await prepare(image, source, options, context, "plan");
    let output: ConvertPlan["output"] = "refuse";
    if (prepared.refusal === undefined) {
      try {
        output = (await decideOutput(prepared.outputPath, prepared.expectation, options.force ?? false))
          .action;
      } catch (err) {
        if (!(err instanceof GvmconvError)) throw err;
      }
    }
    const addMounts = format === "gvmi" && options.addMountPoints !== false;
    return {
      source,
      transport: image.transport,
      reference: image.reference?.familiar,
      digest: image.reference?.digest ?? image.manifestDigest,
      manifestDigest: image.manifestDigest,
      imageId: image.configDigest,
      platform: formatPlatform(image.platform),
      platforms: [...image.platforms],
      format,
      outputPath: prepared.outputPath,
      output,
      containerConfig: prepared.containerConfig,
      mountPoints: addMounts ? MOUNT_POINTS.map((m) => `/${m.path}`) : [],
      layers: image.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
      downloadSize: image.layers.reduce((sum, l) => sum + l.size, 0),
      warnings: context.warnings.slice(firstWarning),
    };
  } finally {
    await image.close();
  }
}

interface BuiltFilesystem {
  squashfs: WriteResult;
  addedMountPoints: string[];
  userFiles: { passwd?: Uint8Array; group?: Uint8Array };
}

/** Merge the layers top-down straight into the SquashFS writer. */
async function buildFilesystem(
  image: Image,
  path: string,
  format: OutputFormat,
  options: ConvertOptions,
  recipe: ConvertRecipe,
  context: RunContext,
  signal: AbortSignal,
): Promise<BuiltFilesystem> {
  const reporter = context.reporter;
  const writer = await SquashfsWriter.create(
    path,
    writerOptions(options.writer, context, options.image?.cacheDir),
  );
  const progress = new WriteProgress(reporter, image.layers);
  try {
    // Topmost first; each layer is a function so the merge may read one again when a hard link
    // needs a file it already passed over (see mergeLayers).
    const layers = [
      ...(recipe.extraLayers ?? []),
      ...image.layers.map((_, i) => () => layerEntries(image, i, reporter, progress)).reverse(),
    ];
    const mountPoints = new MountPointScan();
    const userFiles: BuiltFilesystem["userFiles"] = {};
    const wantUserFiles =
      format === "gvmi" && (options.overrides?.keepUser === true || options.overrides?.user !== undefined);
    for await (const entry of mergeLayers(layers, { reporter })) {
      signal.throwIfAborted();
      mountPoints.note(entry.path, entry.type);
      if (
        wantUserFiles &&
        entry.type === "file" &&
        USER_FILES.has(entry.path) &&
        entry.size <= MAX_USER_FILE
      ) {
        const bytes = await readAll(entry.content);
        userFiles[entry.path === "etc/passwd" ? "passwd" : "group"] = bytes;
        await writer.add({ ...entry, content: bytes });
      } else {
        await writer.add(entry);
      }
    }
    let addedMountPoints: string[] = [];
    if (format === "gvmi" && options.addMountPoints !== false) {
      const missing = missingMountPoints(mountPoints, { mtime: context.mkfsTime });
      for (const entry of missing.entries) await writer.add(entry);
      addedMountPoints = missing.added;
      if (addedMountPoints.length > 0) {
        reporter.info(`added mount points the VM's init needs: ${addedMountPoints.join(", ")}`);
      }
    }
    progress.finish();
    const squashfs = await writer.finish();
    return { squashfs, addedMountPoints, userFiles };
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    progress.done();
  }
}

async function* layerEntries(
  image: Image,
  index: number,
  reporter: Reporter,
  progress: WriteProgress,
): AsyncGenerator<Entry> {
  const onProgress = progress.layer(index);
  yield* readTar(await image.openLayer(index, onProgress !== undefined ? { onProgress } : {}), { reporter });
}

/** The SHA3-224 pass over the written file, as its own labelled step (it takes seconds on large images). */
async function hashWithProgress<T>(
  reporter: Reporter,
  size: number,
  hash: (onBytes: (bytes: number) => void) => Promise<T>,
): Promise<T> {
  const task = reporter.task("hashing (SHA3-224)", size, { kind: "hash" });
  try {
    return await hash((bytes) => task.advance(bytes));
  } finally {
    task.done();
  }
}

async function readAll(content: Uint8Array | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  // Copies: the bytes are kept past the next entry, and a source may reuse its buffers (FileContent).
  if (content instanceof Uint8Array) return Uint8Array.prototype.slice.call(content);
  const chunks: Uint8Array[] = [];
  for await (const chunk of content) chunks.push(Uint8Array.prototype.slice.call(chunk));
  return Buffer.concat(chunks);
}

/**
 * The incumbent's default name, from the reference (for a local engine's image: the name as
 * typed, not the engine's `localhost/…` tag); local sources without one use the path's name.
 */
function defaultName(image: Image, source: string): string {
  const ref = image.reference;
  let repository: string;
  let tag: string;
  if (ref !== undefined) {
    // The familiar form keeps a registry host (ghcr.io/org/img); only the last ':' or '@' starts a tag.
    const lastSlash = ref.familiar.lastIndexOf("/");
    const tail = ref.familiar.slice(lastSlash + 1);
    repository = ref.familiar.slice(0, lastSlash + 1) + tail.replace(/[:@].*$/, "");
    tag = ref.tag ?? ref.digest?.replace(/^sha256:/, "").slice(0, 12) ?? "latest";
  } else if (image.transport === "docker-daemon") {
    // An image id, named as gvmkit-build names whatever it was given (ImageName::from_str_name):
    // before the ':' the repository, after it the tag, else `latest`.
    const typed = source.replace(/^docker-daemon:/, "");
    const colon = typed.indexOf(":");
    repository = colon < 0 ? typed : typed.slice(0, colon);
    tag = colon < 0 ? "latest" : typed.slice(colon + 1);
  } else {
    const path = source.replace(/^[a-z-]+:/, "").replace(/:[^/]*$/, "");
    repository = basename(path).replace(/\.(tar|tgz|tar\.gz)$/, "") || "image";
    tag = /:([^/:]+)$/.exec(source.replace(/^[a-z-]+:/, ""))?.[1] ?? "latest";
  }
  return defaultOutputName({ repository, tag, imageId: image.configDigest });
}
