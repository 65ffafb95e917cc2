/**
 * Uploading to the Golem image registry, as gvmkit-build does: an existing .gvmi (`push`), or a
 * conversion followed by its upload (`convertAndPush`), and the info document that
 * `--extra-json-info-path` writes.
 */
import { UsageError } from "../errors.js";
import { contextOf, type RunContext, type RunOptions } from "../context.js";
import { sha3File } from "../gvmi/index.js";
import {
  GolemRegistryClient,
  descriptorPathFor,
  formatPushTarget,
  parsePushTarget,
  pushImage,
  registryUrlFromEnv,
  resolveCredentials,
  verifyCredentials,
  type PushResult,
  type PushTarget,
} from "../upload/index.js";
import { convert, type ConvertOptions, type ConvertResult } from "./convert.js";

export type { PushResult, PushTarget } from "../upload/index.js";

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
  const credentials = await credentialsFor(target, options, context);
  return await upload(imagePath, target, credentials, options, context);
}

/** The push target `--push` derives from SOURCE: the reference itself, which needs a user part. */
export function pushTargetFromSource(source: string): PushTarget {
  const name = source.replace(/^docker:\/\//, "");
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
 * The document `--extra-json-info-path` writes: gvmkit-build's keys (`imagePath`,
 * `imageDescrPath`, `hash`, `repoInfo`) and gvmconv's own.
 */
export interface ImageInfoDocument {
  imagePath: string;
  /** The chunk descriptor beside the image, when an upload wrote one. */
  imageDescrPath: string | undefined;
  /** SHA3-224 of the image. */
  hash: string;
  imageId: string | undefined;
  size: number | undefined;
  /** Where the image was attached, or null. */
  repoInfo: PushResult["attached"] | null;
  downloadUrl: string | undefined;
  addedMountPoints: string[] | undefined;
  /** Codes of the warnings of the conversion. */
  warnings: string[] | undefined;
}

/** The info document of a conversion and/or an upload of `imagePath` with hash `sha3`. */
export function imageInfoDocument(
  imagePath: string,
  sha3: string,
  conversion: ConvertResult | undefined,
  pushed: PushResult | undefined,
): ImageInfoDocument {
  return {
    imagePath,
    imageDescrPath: pushed ? descriptorPathFor(imagePath) : undefined,
    hash: sha3,
    imageId: conversion?.imageId,
    size: conversion?.size,
    repoInfo: pushed?.attached ?? null,
    downloadUrl: pushed?.downloadUrl,
    addedMountPoints: conversion?.addedMountPoints,
    warnings: conversion?.warnings.map((w) => w.code),
  };
}

/** The SHA3-224 of an existing image file (what `-d FILE` uploads), with its size. */
export function hashImage(path: string): Promise<{ sha3: string; size: number }> {
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
    (await resolveCredentials({ env: context.env, cwd: context.cwd, reporter: context.reporter }));
  if (found === undefined) {
    throw new UsageError(`no Golem registry login for pushing to ${formatPushTarget(target)}`, {
      hint: "run gvmconv login, or set REGISTRY_USER and REGISTRY_TOKEN (environment or .env)",
    });
  }
  // Before building or uploading, as gvmkit-build does: a rejected token fails now, not after.
  const client = new GolemRegistryClient({ url: options.registryUrl ?? registryUrlFromEnv(context.env) });
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
  const client = new GolemRegistryClient({ url: options.registryUrl ?? registryUrlFromEnv(context.env) });
  try {
    return await pushImage({
      imagePath,
      client,
      target,
      credentials,
      chunkSize: options.chunkSize,
      workers: options.workers,
      reporter: context.reporter,
      signal: context.signal,
    });
  } finally {
    await client.close();
  }
}
