/**
 * Pushing a .gvmi to the Golem registry, in the incumbent's order (gvmkit-build-rs src/main.rs):
 *
 *   1. ask what the server holds for the descriptor; push the descriptor if it does not have it;
 *   2. if the image is not yet complete: check the tag may be attached (fails fast on a bad token),
 *      send only the chunks the server lacks, then poll until it reports `full`;
 *   3. attach the tag (skipped for anonymous uploads).
 *
 * Chunks go out in parallel (p-queue, 4 workers by default) and each is retried with the shared
 * backoff of src/http; once one chunk has exhausted its retries nothing new starts and the push
 * fails. Running the push again resumes: step 1 tells which chunks the server already stored.
 */
import PQueue from "p-queue";
import {
  isRetryableNetworkError,
  isRetryableStatus,
  retry,
  type RetryEvent,
  type RetryOptions as HttpRetryOptions,
} from "../http/index.js";
import type { Reporter } from "../reporter.js";
import { silentReporter } from "../reporter.js";
import { GolemRegistryClient, openFileBlob, type AttachResult, type UploadStatus } from "./client.js";
import { loadOrCreateDescriptor, type ChunkDescriptor, type FileChunk } from "./descriptor.js";
import {
  ImageChangedError,
  MissingCredentialsError,
  RegistryHttpError,
  RegistryNetworkError,
  RegistryProtocolError,
} from "./errors.js";
import { formatPushTarget, type PushTarget } from "./push-target.js";

/**
 * Chunk retries, the transport's option names with the upload's defaults: `retries` 4 per chunk,
 * `retryDelayMs` 1000 (doubled per retry, with jitter), `maxRetryDelayMs` 30 000.
 */
export type RetryOptions = HttpRetryOptions;

const CHUNK_RETRY_DEFAULTS = { retries: 4, retryDelayMs: 1000, maxRetryDelayMs: 30_000 } as const;

export interface PushOptions extends RetryOptions {
  /** The .gvmi to push. */
  imagePath: string;
  client: GolemRegistryClient;
  /** Precomputed descriptor; by default `<image>.descr.bin` is reused or created. */
  descriptor?: ChunkDescriptor;
  /** Chunk size override (bytes); default chosen from the file size as gvmkit-build does. */
  chunkSize?: number;
  /** Where to attach; undefined for an anonymous upload (the registry may expire it). */
  target?: PushTarget;
  /** Required with `target`. */
  credentials?: { user: string; token: string };
  /** Parallel chunk uploads (default 4, as gvmkit-build). */
  workers?: number;
  /** Completion polls after the last chunk (default 6) and their spacing in ms (default 5000). */
  validateAttempts?: number;
  validateIntervalMs?: number;
  reporter?: Reporter;
  signal?: AbortSignal;
}

export interface PushResult {
  /** SHA-256 of the descriptor: names the upload. */
  descriptorSha256: string;
  /** SHA3-224 of the image: what SDKs and providers use. */
  sha3: string;
  size: number;
  /** Public link to the descriptor. */
  downloadUrl: string;
  /** True when the server already had every chunk: nothing was sent. */
  alreadyComplete: boolean;
  chunksSent: number;
  chunksSkipped: number;
  bytesSent: number;
  attached: AttachResult | undefined;
}

export async function pushImage(options: PushOptions): Promise<PushResult> {
  const { client, target, credentials } = options;
  const reporter = options.reporter ?? silentReporter;
  if (target && !credentials) {
    throw new MissingCredentialsError(formatPushTarget(target));
  }
  const descriptor =
    options.descriptor ??
    (await loadOrCreateDescriptor(options.imagePath, { chunkSize: options.chunkSize, reporter }));
  const sha = descriptor.sha256;

  let status = await client.getStatus(sha);
  if (status.descriptor !== "ok") {
    reporter.info(`uploading descriptor ${sha}`);
    await client.pushDescriptor(descriptor.bytes);
  }

  let sent = { chunks: 0, bytes: 0, skipped: 0 };
  const alreadyComplete = status.status === "full";
  if (alreadyComplete) {
    reporter.info("the registry already has this image; nothing to upload");
  } else {
    if (target && credentials) await client.attach(sha, target, credentials, { check: true });
    // Ask again: the first answer predates the descriptor push (upload.rs `full_upload` does the same).
    status = await client.getStatus(sha);
    if (status.descriptor !== "ok") {
      throw new RegistryProtocolError(
        `/v1/image/descr/${sha}`,
        "the registry did not register the descriptor",
      );
    }
    if (status.status !== "full") {
      sent = await uploadChunks({ ...options, descriptor, status, reporter });
      await client.waitUntilComplete(sha, {
        attempts: options.validateAttempts,
        intervalMs: options.validateIntervalMs,
        signal: options.signal,
      });
    }
  }

  let attached: AttachResult | undefined;
  if (target && credentials) {
    attached = await client.attach(sha, target, credentials);
    reporter.info(`attached ${formatPushTarget(target)}`);
  }
  return {
    descriptorSha256: sha,
    sha3: descriptor.sha3,
    size: descriptor.size,
    downloadUrl: client.downloadUrl(sha),
    alreadyComplete,
    chunksSent: sent.chunks,
    chunksSkipped: sent.skipped,
    bytesSent: sent.bytes,
    attached,
  };
}

/**
 * Send the chunks `status.chunks` does not mark as stored. Progress: one "upload" task whose total
 * is the bytes actually to be sent, advanced as each chunk is accepted (rate and ETA stay honest on
 * a resumed upload).
 */
export async function uploadChunks(
  options: RetryOptions & {
    imagePath: string;
    client: GolemRegistryClient;
    descriptor: ChunkDescriptor;
    status: UploadStatus;
    workers?: number;
    reporter?: Reporter;
    signal?: AbortSignal;
  },
): Promise<{ chunks: number; bytes: number; skipped: number }> {
  const { client, descriptor, status } = options;
  const reporter = options.reporter ?? silentReporter;
  const stored = status.chunks;
  if (stored !== undefined && stored.length < descriptor.chunks.length) {
    throw new RegistryProtocolError(
      `/v1/image/descr/${descriptor.sha256}`,
      `status lists ${stored.length} chunks, the descriptor has ${descriptor.chunks.length}`,
    );
  }
  const missing = descriptor.chunks.filter((c) => stored?.[c.no] !== 1);
  const skipped = descriptor.chunks.length - missing.length;
  if (skipped > 0) reporter.info(`${skipped} of ${descriptor.chunks.length} chunks already on the registry`);
  const total = missing.reduce((n, c) => n + c.len, 0);
  const task = reporter.task("upload", total, { kind: "upload" });
  const file = await openFileBlob(options.imagePath);
  if (file.size !== descriptor.size) {
    task.done();
    throw new ImageChangedError(
      options.imagePath,
      `${options.imagePath} is ${file.size} bytes but its descriptor says ${descriptor.size}`,
    );
  }

  const queue = new PQueue({ concurrency: Math.max(1, options.workers ?? 4) });
  let failure: unknown;
  let bytes = 0;
  let chunks = 0;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  try {
    for (const chunk of missing) {
      void queue.add(async () => {
        if (failure !== undefined || abort.signal.aborted) return;
        try {
          await withRetry(
            () => client.pushChunk(descriptor.sha256, chunk, file),
            chunk,
            options,
            reporter,
            abort.signal,
          );
          bytes += chunk.len;
          chunks += 1;
          task.advance(chunk.len);
        } catch (err) {
          // First failure wins; stop feeding the queue, let in-flight chunks finish.
          if (failure === undefined) failure = err;
          queue.clear();
        }
      });
    }
    await queue.onIdle();
  } finally {
    options.signal?.removeEventListener("abort", onOuterAbort);
    task.done();
  }
  if (failure === undefined && abort.signal.aborted) failure = abort.signal.reason;
  if (failure !== undefined) throw failure;
  return { chunks, bytes, skipped };
}

/** The shared classification: network drops and timeouts, 408, 429, 5xx; other 4xx will not change. */
function retryable(err: unknown): boolean {
  if (err instanceof RegistryNetworkError) return isRetryableNetworkError(err);
  if (err instanceof RegistryHttpError) return isRetryableStatus(err.statusCode);
  return false;
}

async function withRetry(
  attempt: () => Promise<void>,
  chunk: FileChunk,
  options: RetryOptions,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<void> {
  const policy: RetryOptions = {
    ...options,
    retries: options.retries ?? CHUNK_RETRY_DEFAULTS.retries,
    retryDelayMs: options.retryDelayMs ?? CHUNK_RETRY_DEFAULTS.retryDelayMs,
    maxRetryDelayMs: options.maxRetryDelayMs ?? CHUNK_RETRY_DEFAULTS.maxRetryDelayMs,
  };
  await retry(attempt, policy, {
    signal,
    retryError: retryable,
    onRetry: (e: RetryEvent) =>
      reporter.warn({
        code: "W_GOLEM_CHUNK_RETRY",
        message: `chunk ${chunk.no + 1} failed (${(e.error as Error).message}); retry ${e.retry}/${e.retries} in ${e.delayMs} ms`,
      }),
  });
}
