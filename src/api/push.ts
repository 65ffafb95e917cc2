/**
 * Uploading to the Golem image registry, as gvmkit-build does: an existing .gvmi (`push`), or a
 * conversion followed by its upload (`convertAndPush`); the chunk descriptor every run leaves
 * beside the image (`describeImage`); and the info document that `--extra-json-info-path` writes.
 */
import { UsageError } from "../errors.js";
import { contextOf, type RunContext, type RunOptions } from "../context.js";
import { sha3File } from "../gvmi/index.js";
import {
  GolemRegistryClient,
  descriptorPathFor,
  formatPushTarget,
  loadOrCreateDescriptor,
  parsePushTarget,
  pushImage,
  registryUrlFromEnv,
  resolveCredentials,
  type ChunkDescriptor,
  type PushResult as UploadResult,
  verifyCredentials,
  type PushTarget,
} from "../upload/index.js";
import { convert, type ConvertOptions, type ConvertResult } from "./convert.js";
import { checkInputFile } from "./image-file.js";

export type { PushTarget } from "../upload/index.js";

/**
 * The chunk descriptor of an image, `<image>.descr.bin` beside it. gvmkit-build writes it on every
 * run, upload or not (src/main.rs), and reuses it when it is not older than the image and has the
 * chunk size wanted.
 */
export interface ImageDescription {
  imagePath: string;
  /** `<image>.descr.bin`. */
  descriptorPath: string;
  /** SHA3-224 of the image: the "image link" SDKs take (`imageHash`), what providers verify. */
  sha3: string;
  /** SHA-256 of the descriptor: names the upload; gvmkit-build's info file calls it `hash`. */
  descriptorSha256: string;
  size: number;
  chunkSize: number;
  /** True when an existing descriptor was reused rather than written. */
  reused: boolean;
}

/** An upload, with the descriptor it was made from. */
export interface PushResult extends UploadResult {
  description: ImageDescription;
}

/** Where and how to upload; the run (env, reporter, signal) as in every use case. */
export interface PushOptions extends RunOptions {
  /**
   * `user/repository:tag` to attach the image to. Absent: an anonymous upload (`--nologin`),
   * which the registry may expire.
   */
  target?: PushTarget | string;
  /** Registry URL. Default: `REGISTRY_URL` from the run's environment, else Golem's registry. */
  registryUrl?: string;
  /**
   * The login. Default: `REGISTRY_USER`/`REGISTRY_TOKEN` (environment or `.env`), then the stored
   * login, then gvmkit-build's OS keyring entry. Checked with the registry before any work.
   */
  credentials?: { user: string; token: string };
  /** Chunk size in bytes. Default: chosen from the file size, as gvmkit-build does. */
  chunkSize?: number;
  /** Parallel chunk uploads. Default 4, as gvmkit-build. */
  workers?: number;
}

/** Uploads the .gvmi at `imagePath`, attaching it to `options.target` when one is given. */
export async function push(imagePath: string, options: PushOptions = {}): Promise<PushResult> {
  const context = contextOf(options);
  const target = targetOf(options.target);
  await checkInputFile(imagePath);
  const credentials = await credentialsFor(target, options, context);
  return await upload(imagePath, target, credentials, options, context);
}

/**
 * Writes (or reuses) `<image>.descr.bin` for the .gvmi at `imagePath`, as every gvmkit-build run
 * does, and returns the image's hashes. `chunkSize` as for `push` (the descriptor depends on it).
 */
export async function describeImage(
  imagePath: string,
  options: RunOptions & { chunkSize?: number } = {},
): Promise<ImageDescription> {
  const context = contextOf(options);
  await checkInputFile(imagePath);
  const descriptor = await loadOrCreateDescriptor(imagePath, {
    chunkSize: options.chunkSize,
    reporter: context.reporter,
  });
  return descriptionOf(imagePath, descriptor);
}

/** The push target `--push` derives from SOURCE: the reference itself, which needs a user part. */
export function pushTargetFromSource(source: string): PushTarget {
  // The transport is not part of the name: `docker://u/r:t` and `docker-daemon:u/r:t` push to u/r:t.
  const name = source.replace(/^(?:docker:\/\/|docker-daemon:)/, "");
  const target = parsePushTarget(name);
  if (target.user === undefined) {
    throw new UsageError(`cannot push ${name}: the name has no user part`, {
      hint: "use --push-to <user>/<repository>:<tag>, or --nologin for an anonymous upload",
    });
  }
  return target;
}

export interface ConvertAndPushResult {
  conversion: ConvertResult;
  push: PushResult;
}

/**
 * Converts `source` (see `convert`), then uploads the result (see `push`). The login is found
 * before the conversion starts, so a missing one fails at once rather than after the build.
 */
export async function convertAndPush(
  source: string,
  options: ConvertOptions & { push: Omit<PushOptions, keyof RunOptions> },
): Promise<ConvertAndPushResult> {
  const context = contextOf(options);
  const target = targetOf(options.push.target);
  const credentials = await credentialsFor(target, options.push, context);
  const conversion = await convert(source, { ...options, context });
  const pushed = await upload(conversion.outputPath, target, credentials, options.push, context);
  return { conversion, push: pushed };
}

/**
 * Where gvmkit-build's info file says the image was attached (upload.rs `AttachInfo`): the
 * registry URL, and the user, repository and tag of the push target.
 */
export interface RepoInfo {
  repo: string;
  tag: string;
  url: string;
  user: string;
}

/**
 * The document `--extra-json-info-path` writes. First gvmkit-build's four keys with its meanings
 * (src/main.rs, `json!({"repoInfo", "imagePath", "imageDescrPath", "hash"})`, serialized by
 * serde_json without `preserve_order`, so in sorted order — kept here), then gvmconv's own. Absent
 * values are null, so every key is always there.
 */
export interface ImageInfoDocument {
  /** SHA-256 of the chunk descriptor (NOT the image hash: that is `imageHash`). */
  hash: string;
  /** The chunk descriptor beside the image, written on every run. */
  imageDescrPath: string;
  imagePath: string;
  /** Where the image was attached; null without an upload or for an anonymous one. */
  repoInfo: RepoInfo | null;
  /** SHA3-224 of the image: the "image link" SDKs take and providers verify. */
  imageHash: string;
  /** The image id (`sha256:…` of its config); null for `-d FILE`. */
  imageId: string | null;
  /** Size of the image file in bytes. */
  size: number;
  /** The registry's download link; null without an upload. */
  downloadUrl: string | null;
  /** Mount points the conversion added (`/proc`, …); null for `-d FILE`. */
  addedMountPoints: string[] | null;
  /** Codes of the conversion's warnings; null for `-d FILE`. */
  warnings: string[] | null;
  /**
   * The compressor that wrote the image: name, level and encoder (e.g. "libdeflate
   * (libdeflate.so.0, encoder 1f2e…)"); null for `-d FILE` or an output kept from an earlier run.
   */
  compressor: { name: string; level: number; backend: string } | null;
}

/** The info document of a run: its descriptor, and the conversion and upload when there were. */
export function imageInfoDocument(
  description: ImageDescription,
  conversion: ConvertResult | undefined,
  pushed: PushResult | undefined,
): ImageInfoDocument {
  const attached = pushed?.attached;
  return {
    hash: description.descriptorSha256,
    imageDescrPath: description.descriptorPath,
    imagePath: description.imagePath,
    repoInfo: attached
      ? { repo: attached.repository, tag: attached.tag, url: attached.url, user: attached.user }
      : null,
    imageHash: description.sha3,
    imageId: conversion?.imageId ?? null,
    size: description.size,
    downloadUrl: pushed?.downloadUrl ?? null,
    addedMountPoints: conversion?.addedMountPoints ?? null,
    warnings: conversion?.warnings.map((w) => w.code) ?? null,
    compressor: conversion?.squashfs
      ? {
          name: conversion.squashfs.compressor.name,
          level: conversion.squashfs.compressor.level,
          backend: conversion.squashfs.compressor.backend,
        }
      : null,
  };
}

/** The SHA3-224 of an existing image file (what `-d FILE` uploads), with its size. */
export async function hashImage(path: string): Promise<{ sha3: string; size: number }> {
  await checkInputFile(path);
  return sha3File(path);
}

function targetOf(target: PushTarget | string | undefined): PushTarget | undefined {
  if (target === undefined) return undefined;
  const parsed = typeof target === "string" ? parsePushTarget(target) : target;
  if (parsed.user === undefined) throw new UsageError("--push-to needs user/repository:tag");
  return parsed;
}

async function credentialsFor(
  target: PushTarget | undefined,
  options: Pick<PushOptions, "credentials" | "registryUrl">,
  context: RunContext,
): Promise<{ user: string; token: string } | undefined> {
  if (target === undefined) return undefined;
  const found =
    options.credentials ??
    (await resolveCredentials({
      env: context.env,
      dotenvKeys: context.dotenv?.keys,
      reporter: context.reporter,
    }));
  if (found === undefined) {
    throw new UsageError(`no Golem registry login for pushing to ${formatPushTarget(target)}`, {
      hint: "run gvmconv login, or set REGISTRY_USER and REGISTRY_TOKEN (environment or .env)",
    });
  }
  // Before building or uploading, as gvmkit-build does: a rejected token fails now, not after.
  const client = new GolemRegistryClient({
    url: options.registryUrl ?? registryUrlFromEnv(context.env),
    timeouts: context.network.timeouts,
  });
  try {
    await verifyCredentials(client, found);
  } finally {
    await client.close();
  }
  return { user: found.user, token: found.token };
}

async function upload(
  imagePath: string,
  target: PushTarget | undefined,
  credentials: { user: string; token: string } | undefined,
  options: Omit<PushOptions, keyof RunOptions>,
  context: RunContext,
): Promise<PushResult> {
  const descriptor = await loadOrCreateDescriptor(imagePath, {
    chunkSize: options.chunkSize,
    reporter: context.reporter,
  });
  const client = new GolemRegistryClient({
    url: options.registryUrl ?? registryUrlFromEnv(context.env),
    timeouts: context.network.timeouts,
  });
  try {
    const result = await pushImage({
      imagePath,
      client,
      descriptor,
      target,
      credentials,
      workers: options.workers,
      ...(context.network.retries !== undefined ? { retries: context.network.retries } : {}),
      ...(context.network.retryDelayMs !== undefined ? { retryDelayMs: context.network.retryDelayMs } : {}),
      reporter: context.reporter,
      signal: context.signal,
    });
    return { ...result, description: descriptionOf(imagePath, descriptor) };
  } finally {
    await client.close();
  }
}

function descriptionOf(imagePath: string, d: ChunkDescriptor & { reused: boolean }): ImageDescription {
  return {
    imagePath,
    descriptorPath: descriptorPathFor(imagePath),
    sha3: d.sha3,
    descriptorSha256: d.sha256,
    size: d.size,
    chunkSize: d.chunkSize,
    reused: d.reused,
  };
}
