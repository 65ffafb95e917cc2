/**
 * A content-addressed blob cache: `<dir>/blobs/<alg>/<hex>`. A blob is written to
 * `<dir>/tmp/` while it is hashed, and renamed into place only once its digest and size are
 * verified, so everything under `blobs/` is trusted and a failed download never enters the cache.
 * Renames are atomic, so concurrent processes sharing a cache at worst download twice.
 */
import { randomBytes } from "node:crypto";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Env } from "../context.js";
import { backoffDelay, isRetryableNetworkError } from "../http/index.js";
import type { ProgressTask } from "../reporter.js";
import { DigestingStream, parseDigest, verifyBytes } from "./digest.js";
import { DigestMismatchError, NetworkError } from "./errors.js";
import type { BlobResponse } from "./registry-client.js";

/** `$XDG_CACHE_HOME/gvmconv`, else `~/.cache/gvmconv`. */
export function defaultCacheDir(env: Env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".cache"), "gvmconv");
}

export interface IngestOptions {
  /** Expected size in bytes (from the descriptor); checked as well as the digest. */
  size?: number;
  task?: ProgressTask;
  /** Failed attempts without progress tolerated before giving up (default 5). */
  retries?: number;
  /** First backoff step in ms after a failure without progress (default 500). */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** Opens the blob from a byte offset; offset > 0 asks for a Range, which the server may ignore. */
export type BlobOpener = (offset: number) => Promise<BlobResponse>;

export class BlobCache {
  readonly dir: string;
  readonly #inflight = new Map<string, Promise<void>>();
  /** Blobs this instance downloaded and verified itself: not hashed a second time when read. */
  readonly #verifiedHere = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, "blobs", algorithm, hex);
  }

  /** True when the blob is cached (and, if `size` is given, has that size). */
  async has(digest: string, size?: number): Promise<boolean> {
    try {
      const s = await stat(this.path(digest));
      return s.isFile() && (size === undefined || s.size === size);
    } catch {
      return false;
    }
  }

  /** A small cached blob in memory, re-verified. */
  async readBytes(digest: string): Promise<Buffer | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(digest));
    } catch {
      return undefined;
    }
    try {
      verifyBytes(bytes, digest, "cached blob");
    } catch {
      await rm(this.path(digest), { force: true }); // corrupted on disk: forget it
      return undefined;
    }
    return bytes;
  }

  /**
   * A cached blob as a stream. It was verified on the way in. One cached by an earlier run is
   * hashed again on the way out and the stream fails at its end if the file was altered since;
   * one this instance has just downloaded and verified is not (a cold pull hashed every layer
   * twice: ~0.2 s of main-thread CPU per 360 MB, while the compression workers want the cores).
   */
  openRead(digest: string, size?: number): Readable {
    if (this.#verifiedHere.has(digest))
      return createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
    const verify = new DigestingStream({
      expected: digest,
      ...(size !== undefined ? { expectedSize: size } : {}),
      what: `cached blob ${digest}`,
    });
    const file = createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
    file.on("error", (err) => verify.destroy(err));
    return file.pipe(verify);
  }

  /** Store verified bytes (configs, manifests). */
  async putBytes(digest: string, bytes: Uint8Array): Promise<void> {
    verifyBytes(bytes, digest, "blob");
    if (await this.has(digest, bytes.length)) return;
    const tmp = await this.#tmpPath(digest);
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(bytes);
    } finally {
      await fh.close();
    }
    await this.#commit(tmp, digest);
  }

  /**
   * Download a blob into the cache unless it is there. Dropped transfers resume from the bytes
   * already written (Range); a server that answers 200 instead of 206 restarts the file and the
   * hash. Concurrent calls for one digest share a download.
   */
  async ingest(digest: string, opener: BlobOpener, opts: IngestOptions = {}): Promise<void> {
    if (await this.has(digest, opts.size)) {
      opts.task?.advance(opts.size ?? 0);
      return;
    }
    let p = this.#inflight.get(digest);
    if (p === undefined) {
      p = this.#download(digest, opener, opts).finally(() => this.#inflight.delete(digest));
      this.#inflight.set(digest, p);
    }
    await p;
  }

  async #download(digest: string, opener: BlobOpener, opts: IngestOptions): Promise<void> {
    const { algorithm } = parseDigest(digest);
    const retries = opts.retries ?? 5;
    const tmp = await this.#tmpPath(digest);
    const fh = await open(tmp, "w");
    let committed = false;
    try {
      let hash = createHash(algorithm);
      let offset = 0;
      let failures = 0;
      let lastError: unknown;
      while (true) {
        if (opts.signal?.aborted === true) throw opts.signal.reason;
        const before = offset;
        try {
          const res = await opener(offset);
          if (res.start !== offset) {
            // The server ignored Range: start over, file and hash.
            opts.task?.advance(-offset);
            await fh.truncate(0);
            hash = createHash(algorithm);
            offset = 0;
          }
          for await (const chunk of res.body) {
            const b = chunk as Buffer;
            if (opts.size !== undefined && offset + b.length > opts.size) {
              res.body.destroy();
              throw new DigestMismatchError(
                digest,
                `more than ${opts.size} bytes`,
                `blob ${digest} is longer than its descriptor says`,
              );
            }
            await fh.write(b, 0, b.length, offset);
            hash.update(b);
            offset += b.length;
            opts.task?.advance(b.length);
          }
          break;
        } catch (err) {
          if (!isRetryableNetworkError(err)) throw err;
          lastError = err;
          if (offset === before) failures++;
          else failures = 0;
          if (failures > retries)
            throw new NetworkError(digest, `download of blob ${digest} kept failing`, { cause: lastError });
          await sleep(
            offset === before ? backoffDelay(failures - 1, { retryDelayMs: opts.retryDelayMs ?? 500 }) : 0,
            undefined,
            { signal: opts.signal },
          );
        }
      }
      const actual = `${algorithm}:${hash.digest("hex")}`;
      if (opts.size !== undefined && offset !== opts.size) {
        throw new DigestMismatchError(
          digest,
          `${offset} bytes`,
          `blob ${digest} is ${offset} bytes, its descriptor says ${opts.size}`,
        );
      }
      if (actual !== digest)
        throw new DigestMismatchError(digest, actual, `downloaded blob does not match its digest`);
      await fh.sync();
      await fh.close();
      await this.#commit(tmp, digest);
      committed = true;
      this.#verifiedHere.add(digest);
    } finally {
      if (!committed) {
        await fh.close().catch(() => {});
        await rm(tmp, { force: true });
      }
    }
  }

  async #tmpPath(digest: string): Promise<string> {
    const dir = join(this.dir, "tmp");
    await mkdir(dir, { recursive: true });
    return join(
      dir,
      `${parseDigest(digest).hex.slice(0, 16)}.${process.pid}.${randomBytes(4).toString("hex")}`,
    );
  }

  async #commit(tmp: string, digest: string): Promise<void> {
    const final = this.path(digest);
    await mkdir(join(final, ".."), { recursive: true });
    await rename(tmp, final);
  }
}
