/**
 * A content-addressed blob cache: `<dir>/blobs/<alg>/<hex>`. A download is written to
 * `<dir>/partial/<alg>-<hex>` (held by an `O_EXCL` lock file; see `#download`) while it is hashed,
 * small blobs and downloads that find the partial held go to `<dir>/tmp/`, and either is renamed
 * into place only once its digest and size are verified, so everything under `blobs/` is trusted
 * and a failed download never enters the cache. An interrupted one is resumed by the next run.
 * Renames are atomic, so concurrent processes sharing a cache at worst download twice.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, type FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { isNoSpace, NoSpaceError, trackTemporary } from "../atomic-output.js";
import {
  backoffDelay,
  failureDetail,
  isRetryableNetworkError,
  networkErrorCode,
  SLOW_BODY_CODE,
  TIMEOUT_DEFAULTS,
} from "../http/index.js";
import type { ProgressTask, RetryNotice } from "../reporter.js";
import { DigestingStream, parseDigest, verifyBytes } from "./digest.js";
import { DigestMismatchError, NetworkError } from "./errors.js";
import type { BlobResponse } from "./registry-client.js";

/** Resumable partial downloads live here, each `<alg>-<hex>` with a `<alg>-<hex>.lock` beside it. */
const PARTIAL_DIR = "partial";
const LOCK_SUFFIX = ".lock";
/** A partial or temp not written to for this long, and not locked by a live process, is swept. */
export const PARTIAL_MAX_AGE_MS = 24 * 3600 * 1000;
/** An attempt that timed out after bringing at least this many bytes resets the retry count. */
const PROGRESS_FOR_FRESH_RETRIES = 1024 * 1024;
/** Failures that cost a timeout each (undici's and the transport's minimum rate). */
const STALL_CODES = new Set(["UND_ERR_BODY_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", SLOW_BODY_CODE]);

export interface CacheEntry {
  digest: string;
  path: string;
  size: number;
  /** Last time a run used the blob (its atime, set explicitly on each use). */
  lastUsed: Date;
}

export interface PartialEntry {
  path: string;
  size: number;
  modified: Date;
  /** Held by a live process (a resumable partial it is writing, or a temp). */
  inUse: boolean;
}

/** A resumed partial that did not add up to the digest: the caller retries from zero. */
class ResumedMismatch extends DigestMismatchError {
  readonly offset: number;
  constructor(digest: string, actual: string, offset: number) {
    super(digest, actual, `resumed blob does not match its digest`);
    this.offset = offset;
  }
}

/** Hash a file's bytes into `hash`; its length (0 if it does not exist). */
async function hashFile(path: string, hash: Hash): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  return n;
}

/**
 * A lock is live when its process runs (same host, `kill(pid, 0)`), or, written on another host
 * sharing the directory, when it is younger than `PARTIAL_MAX_AGE_MS`.
 */
async function lockIsLive(lockPath: string): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await readFile(lockPath, "utf8");
    mtimeMs = (await stat(lockPath)).mtimeMs;
  } catch {
    return false;
  }
  const [host, pidText] = text.trim().split(" ");
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0)
    return Date.now() - mtimeMs < PARTIAL_MAX_AGE_MS;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export { defaultCacheDir } from "../context.js";

export interface IngestOptions {
  /** Expected size in bytes (from the descriptor); checked as well as the digest. */
  size?: number;
  task?: ProgressTask;
  /** Failed attempts without progress tolerated before giving up (default 5). */
  retries?: number;
  /** First backoff step in ms after a failure without progress (default 500). */
  retryDelayMs?: number;
  /** No retry starts later than this many ms after the last real progress (default 300 000, the transport's `totalMs`). */
  deadlineMs?: number;
  signal?: AbortSignal;
  /** Told before each wait of a download that broke off and is tried again. */
  onRetry?: (notice: RetryNotice) => void;
}

/**
 * A download in flight, as its followers see it: the file it writes (partial or temp, then the
 * cache entry once admitted), how many bytes from offset 0 are in it, and how it ended.
 */
interface LiveDownload {
  path: string | undefined;
  /** Bumped when the bytes move to another file (a fresh one, or the admitted entry). */
  fileGen: number;
  written: number;
  /** Bumped when bytes already written were thrown away (a resumed partial that failed its digest). */
  discards: number;
  done: boolean;
  error: unknown;
  /**
   * Bumped with every change a follower may wait for. A follower notes it before it looks and
   * waits only if it is unchanged: a change that came while it was awaiting a read or an open
   * (the download failing and its file removed, say) is not missed.
   */
  changes: number;
}

/** What a follower knows of its caller's `settled`, and how it waits for the next change. */
interface FollowState {
  settled: { ok: true } | { ok: false; err: unknown } | undefined;
  /** The next change of the digest's live download (or, with `orSettled`, the settling). */
  wait: (orSettled: boolean) => Promise<void>;
}

/** A follower's read size: what the merge asks for at a time. */
const FOLLOW_CHUNK = 1 << 20;

/** Opens the blob from a byte offset; offset > 0 asks for a Range, which the server may ignore. */
export type BlobOpener = (offset: number) => Promise<BlobResponse>;

export class BlobCache {
  readonly dir: string;
  readonly #inflight = new Map<string, Promise<void>>();
  /** Blobs this instance downloaded and verified itself: not hashed a second time when read. */
  readonly #verifiedHere = new Set<string>();
  /** Downloads in flight that `follow` can read as they are written, by digest. */
  readonly #live = new Map<string, LiveDownload>();
  /** Emits a digest whenever its live download changes (created, bytes written, ended). */
  readonly #changes = new EventEmitter().setMaxListeners(0);

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
    this.#touch(this.path(digest));
    return bytes;
  }

  /**
   * A cached blob as a stream. It was verified on the way in. One cached by an earlier run is
   * hashed again on the way out and the stream fails at its end if the file was altered since;
   * one this instance has just downloaded and verified is not (a cold pull hashed every layer
   * twice: ~0.2 s of main-thread CPU per 360 MB, while the compression workers want the cores).
   */
  openRead(digest: string, size?: number): Readable {
    this.#touch(this.path(digest));
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

  /**
   * The blob's bytes while `ingest` downloads it: read from the file being written as it grows,
   * so a consumer works during the download. The stream ends only once the download has been
   * verified and admitted, and fails with the download's error (a digest mismatch among them), so
   * nothing read from it counts before the whole blob checked out. `settled` is the caller's
   * promise that the blob is (or failed to be) in the cache: when no download of this instance
   * runs for it by then (it was cached already, or arrived before), the cached file is read as
   * `openRead` reads it. A download that throws away bytes already followed (a resumed partial
   * that fails its digest) fails the stream: those bytes have been consumed.
   */
  follow(digest: string, size: number | undefined, settled: Promise<unknown>): Readable {
    const stop = new AbortController();
    const state: FollowState = { settled: undefined, wait: undefined as never };
    const waitSettled = settled.then(
      () => void (state.settled = { ok: true }),
      (err: unknown) => void (state.settled = { ok: false, err }),
    );
    state.wait = async (orSettled) => {
      const change = once(this.#changes, digest, { signal: stop.signal });
      await (orSettled ? Promise.race([change, waitSettled]) : change);
    };
    const bytes = this.#followBytes(digest, size, state);
    // Not Readable.from: its destroy waits for the generator to return, which it cannot do while
    // parked in `wait` for a change that may never come (a download that ended, a `settled` that
    // never settles), so the stream never closed and its file handle was left to the GC. Here the
    // wait is aborted first, which throws inside the generator and runs its `finally`.
    return new Readable({
      highWaterMark: FOLLOW_CHUNK,
      read() {
        bytes.next().then(
          (r) => this.push(r.done === true ? null : r.value),
          (err: unknown) => this.destroy(err as Error),
        );
      },
      destroy(err, cb) {
        stop.abort();
        bytes.return(undefined).then(
          () => cb(err),
          (e: unknown) => cb(err ?? (e as Error)),
        );
      },
    });
  }

  async *#followBytes(digest: string, size: number | undefined, state: FollowState): AsyncGenerator<Buffer> {
    let live: LiveDownload | undefined;
    for (;;) {
      live = this.#live.get(digest);
      if (live !== undefined) break;
      if (state.settled?.ok === true) {
        yield* this.openRead(digest, size) as AsyncIterable<Buffer>;
        return;
      }
      if (state.settled?.ok === false) throw state.settled.err;
      await state.wait(true);
    }
    let fh: FileHandle | undefined;
    let gen = -1;
    let pos = 0;
    const discards = live.discards;
    try {
      for (;;) {
        const seen = live.changes;
        if (live.error !== undefined) throw live.error;
        if (live.discards !== discards && pos > 0) {
          throw new DigestMismatchError(
            digest,
            "a corrupt resumed partial",
            `blob ${digest} was resumed from a partial download whose bytes were wrong, and they were already read; it has been downloaded again and cached, so run again`,
          );
        }
        if (live.path !== undefined && gen !== live.fileGen) {
          await fh?.close();
          fh = undefined;
          const at = live.fileGen;
          const done = live.done;
          fh = await open(live.path, "r").catch((err: NodeJS.ErrnoException) => {
            // Renamed into the cache between the look and the open: the next change says where.
            if (err.code === "ENOENT" && !done) return undefined;
            throw err;
          });
          if (fh !== undefined) gen = at;
        }
        if (fh !== undefined && pos < live.written) {
          const want = Math.min(FOLLOW_CHUNK, live.written - pos);
          const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(want), 0, want, pos);
          if (bytesRead > 0) {
            pos += bytesRead;
            yield buffer.subarray(0, bytesRead);
            continue;
          }
        }
        if (live.done && pos >= live.written) return;
        if (live.changes === seen) await state.wait(false);
      }
    } finally {
      await fh?.close();
    }
  }

  /** Tells the digest's followers that its live download changed. */
  #changed(digest: string, live: LiveDownload): void {
    live.changes++;
    this.#changes.emit(digest);
  }

  /** Store verified bytes (configs, manifests). */
  async putBytes(digest: string, bytes: Uint8Array): Promise<void> {
    verifyBytes(bytes, digest, "blob");
    if (await this.has(digest, bytes.length)) return;
    try {
      const tmp = await this.#tmpPath(digest);
      const untrack = trackTemporary(tmp);
      try {
        const fh = await open(tmp, "w");
        try {
          await fh.writeFile(bytes);
        } finally {
          await fh.close();
        }
        await this.#commit(tmp, digest);
      } finally {
        await rm(tmp, { force: true });
        untrack();
      }
    } catch (err) {
      throw this.#noSpace(err);
    }
  }

  /** A full disk under the cache is the user's to fix: say so, naming the cache. */
  #noSpace(err: unknown): unknown {
    return isNoSpace(err) ? new NoSpaceError(this.dir, "cache", err) : err;
  }

  /**
   * Download a blob into the cache unless it is there. Dropped transfers resume from the bytes
   * already written (Range); a server that answers 200 instead of 206 restarts the file and the
   * hash. Concurrent calls for one digest share a download.
   */
  async ingest(digest: string, opener: BlobOpener, opts: IngestOptions = {}): Promise<void> {
    if (await this.has(digest, opts.size)) {
      this.#touch(this.path(digest));
      opts.task?.advance(opts.size ?? 0);
      return;
    }
    let p = this.#inflight.get(digest);
    if (p === undefined) {
      const live: LiveDownload = {
        path: undefined,
        fileGen: 0,
        written: 0,
        discards: 0,
        done: false,
        error: undefined,
        changes: 0,
      };
      this.#live.set(digest, live);
      this.#changed(digest, live);
      p = this.#download(digest, opener, opts)
        .then(
          () => {
            live.done = true;
          },
          (err: unknown) => {
            live.error = this.#noSpace(err);
            throw live.error;
          },
        )
        .finally(() => {
          this.#inflight.delete(digest);
          this.#live.delete(digest);
          this.#changed(digest, live);
        });
      this.#inflight.set(digest, p);
    }
    await p;
  }

  /**
   * A resumable download: bytes go to `partial/<alg>-<hex>`, held under an `O_EXCL` lock file, so
   * an interrupted run leaves a partial the next run continues with `Range` from its length (the
   * bytes already there are hashed first, and the whole blob is verified at the end). A partial
   * whose bytes turn out wrong fails the digest, is discarded, and the blob is fetched once more
   * from zero. A run that finds the partial locked by a live process downloads to a temp of its
   * own instead of waiting: waiting would hang on a stalled peer, and the cost of not waiting is
   * one duplicate download (the final rename is atomic either way).
   */
  async #download(digest: string, opener: BlobOpener, opts: IngestOptions): Promise<void> {
    await this.#sweepOnce();
    const lock = await this.#lockPartial(digest);
    if (lock === undefined) {
      const tmp = await this.#tmpPath(digest);
      const untrack = trackTemporary(tmp);
      try {
        await this.#downloadTo(tmp, digest, opener, opts, false, false);
      } finally {
        untrack();
      }
      return;
    }
    // Ctrl-C removes the lock (the partial stays, to resume); see removePendingOutputsSync.
    const untrackLock = trackTemporary(lock.lockPath);
    try {
      try {
        await this.#downloadTo(lock.partial, digest, opener, opts, true, true);
      } catch (err) {
        if (!(err instanceof ResumedMismatch)) throw err;
        await rm(lock.partial, { force: true });
        const live = this.#live.get(digest);
        if (live !== undefined) {
          live.discards++;
          live.written = 0;
          this.#changed(digest, live);
        }
        opts.task?.advance(-err.offset);
        await this.#downloadTo(lock.partial, digest, opener, opts, false, true);
      }
    } finally {
      await rm(lock.lockPath, { force: true });
      untrackLock();
    }
  }

  /**
   * Fetch into `file` (resuming from its length when `resume`), verify, rename into place.
   * On a digest or size mismatch the file is removed; on any other failure (a dropped connection,
   * an abort) a `partial` file is kept for the next run to resume (an empty one is removed).
   */
  async #downloadTo(
    file: string,
    digest: string,
    opener: BlobOpener,
    opts: IngestOptions,
    resume: boolean,
    partial: boolean,
  ): Promise<void> {
    const { algorithm } = parseDigest(digest);
    const retries = opts.retries ?? 5;
    let hash = createHash(algorithm);
    let offset = 0;
    // Resume only with a known size: without one, a complete partial would ask for an empty
    // range, which servers answer 416, and the run could never finish.
    if (resume && opts.size === undefined) await rm(file, { force: true });
    else if (resume) {
      offset = await hashFile(file, hash);
      if (opts.size !== undefined && offset > opts.size) {
        await rm(file, { force: true });
        hash = createHash(algorithm);
        offset = 0;
      }
    }
    const resumedFrom = offset;
    opts.task?.advance(offset);
    // Not "a": with O_APPEND, Linux ignores the positions given to write().
    const fh = await open(file, offset > 0 ? "r+" : "w");
    // Followers read the file as it grows: what a resumed partial already holds at once.
    const live = this.#live.get(digest);
    const grew = (): void => {
      if (live === undefined) return;
      live.written = offset;
      this.#changed(digest, live);
    };
    if (live !== undefined) {
      live.path = file;
      live.fileGen++;
      grew();
    }
    let committed = false;
    let keep = partial;
    try {
      let failures = 0;
      let lastError: unknown;
      let progressAt = performance.now();
      const deadlineMs = opts.deadlineMs ?? TIMEOUT_DEFAULTS.totalMs;
      while (opts.size === undefined || offset < opts.size || offset === 0) {
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
            // The same bytes again (or the digest fails): a follower past them waits to catch up.
            grew();
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
            grew();
            opts.task?.advance(b.length);
          }
          break;
        } catch (err) {
          if (!isRetryableNetworkError(err)) throw err;
          lastError = err;
          // An attempt that made progress earns fresh retries (a dropped connection resumes at
          // once), except one that ended in a timeout having brought little: a peer that sends a
          // few bytes and stalls on every request, or trickles, would otherwise cost a timeout per
          // few bytes, (size / bytes per attempt) times.
          const timedOut = STALL_CODES.has(networkErrorCode(err) ?? "");
          if (offset === before || (timedOut && offset - before < PROGRESS_FOR_FRESH_RETRIES)) failures++;
          else {
            failures = 0;
            progressAt = performance.now();
          }
          if (failures > retries || (failures > 0 && performance.now() - progressAt > deadlineMs))
            throw new NetworkError(
              digest,
              `download of blob ${digest} kept failing: ${(lastError as Error).message}`,
              { cause: lastError },
            );
          const delayMs =
            offset === before ? backoffDelay(failures - 1, { retryDelayMs: opts.retryDelayMs ?? 500 }) : 0;
          opts.onRetry?.({
            retry: Math.max(failures, 1),
            retries,
            delayMs,
            reason: `blob ${digest.slice(7, 19)} broke off at ${offset} bytes (${failureDetail(err)}); resuming`,
          });
          await sleep(delayMs, undefined, { signal: opts.signal });
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
      if (actual !== digest) {
        if (resumedFrom > 0) throw new ResumedMismatch(digest, actual, offset);
        throw new DigestMismatchError(digest, actual, `downloaded blob does not match its digest`);
      }
      await fh.sync();
      await fh.close();
      await this.#commit(file, digest);
      committed = true;
      this.#verifiedHere.add(digest);
      if (live !== undefined) {
        live.path = this.path(digest);
        live.fileGen++;
        this.#changed(digest, live);
      }
    } catch (err) {
      // A full disk keeps no partial: it would keep the disk full, and the next run may well put
      // the cache elsewhere.
      keep = partial && !(err instanceof DigestMismatchError) && !isNoSpace(err);
      throw err;
    } finally {
      if (!committed) {
        await fh.close().catch(() => {});
        const size = keep
          ? await stat(file).then(
              (s) => s.size,
              () => 0,
            )
          : 0;
        if (size === 0) await rm(file, { force: true });
      }
    }
  }

  /** The partial's path and its lock, or undefined when a live process holds the lock. */
  async #lockPartial(digest: string): Promise<{ partial: string; lockPath: string } | undefined> {
    const { algorithm, hex } = parseDigest(digest);
    const dir = join(this.dir, PARTIAL_DIR);
    await mkdir(dir, { recursive: true });
    const partial = join(dir, `${algorithm}-${hex}`);
    const lockPath = `${partial}${LOCK_SUFFIX}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(lockPath, "wx");
        await fh.writeFile(`${hostname()} ${process.pid}\n`);
        await fh.close();
        return { partial, lockPath };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        if (await lockIsLive(lockPath)) return undefined;
        await rm(lockPath, { force: true }); // its process is gone: take the partial over
      }
    }
    return undefined;
  }

  /**
   * Remove what interrupted runs left behind: partials and temps not written to for
   * `PARTIAL_MAX_AGE_MS` whose lock (if any) is not held by a live process, and dead locks. One
   * readdir per directory, once per cache instance.
   */
  async sweep(now = Date.now()): Promise<{ removed: string[] }> {
    const removed: string[] = [];
    for (const sub of [PARTIAL_DIR, "tmp"]) {
      const dir = join(this.dir, sub);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      const set = new Set(names);
      for (const name of names) {
        const path = join(dir, name);
        if (name.endsWith(LOCK_SUFFIX)) {
          if (!set.has(name.slice(0, -LOCK_SUFFIX.length)) && !(await lockIsLive(path))) {
            await rm(path, { force: true });
          }
          continue;
        }
        const s = await stat(path).catch(() => undefined);
        if (s === undefined || now - s.mtimeMs < PARTIAL_MAX_AGE_MS) continue;
        const lockPath = `${path}${LOCK_SUFFIX}`;
        if (set.has(`${name}${LOCK_SUFFIX}`) && (await lockIsLive(lockPath))) continue;
        await rm(path, { force: true });
        await rm(lockPath, { force: true });
        removed.push(path);
      }
    }
    return { removed };
  }

  #swept: Promise<unknown> | undefined;
  async #sweepOnce(): Promise<void> {
    this.#swept ??= this.sweep().catch(() => undefined);
    await this.#swept;
  }

  /** Every verified blob: digest, size, and last use (atime, which reads set explicitly). */
  async entries(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    const root = join(this.dir, "blobs");
    let algs: string[];
    try {
      algs = await readdir(root);
    } catch {
      return out;
    }
    for (const alg of algs.sort()) {
      let names: string[];
      try {
        names = await readdir(join(root, alg));
      } catch {
        continue;
      }
      for (const hex of names.sort()) {
        const path = join(root, alg, hex);
        const s = await stat(path).catch(() => undefined);
        if (s === undefined || !s.isFile()) continue;
        out.push({ digest: `${alg}:${hex}`, path, size: s.size, lastUsed: new Date(s.atimeMs) });
      }
    }
    return out;
  }

  /** Partial downloads on disk (resumable or orphaned), with whether a live process holds them. */
  async partials(): Promise<PartialEntry[]> {
    const out: PartialEntry[] = [];
    for (const sub of [PARTIAL_DIR, "tmp"]) {
      const dir = join(this.dir, sub);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (name.endsWith(LOCK_SUFFIX)) continue;
        const path = join(dir, name);
        const s = await stat(path).catch(() => undefined);
        if (s === undefined || !s.isFile()) continue;
        const locked = sub === "tmp" || (await lockIsLive(`${path}${LOCK_SUFFIX}`));
        out.push({ path, size: s.size, modified: new Date(s.mtimeMs), inUse: locked });
      }
    }
    return out;
  }

  /** Mark a blob used now (atime), keeping its mtime (when it was added). */
  #touch(path: string): void {
    const now = new Date();
    stat(path)
      .then((s) => utimes(path, now, s.mtime))
      .catch(() => {});
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
