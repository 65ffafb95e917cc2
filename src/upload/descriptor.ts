/**
 * The chunk descriptor (`<image>.descr.bin`) that names an upload to the Golem registry.
 *
 * Layout (gvmkit-build-rs src/chunks.rs, `FileChunkDesc::serialize_to_bytes`), all integers
 * BIG-endian, unlike the .gvmi trailer:
 *
 *   offset  size  field
 *   0       8     version = 0x0000_0003_3333_3334 (u64 BE)
 *   8       8     file size in bytes (u64 BE)
 *   16      8     chunk size in bytes (u64 BE)
 *   24      28    SHA3-224 of the whole file (what providers verify)
 *   52      32×n  SHA-256 of each chunk, n = ceil(size / chunk size); the last chunk may be short
 *
 * The SHA-256 of these bytes (lowercase hex) identifies the upload in every endpoint.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { writeAtomically } from "../atomic-output.js";
import type { Reporter } from "../reporter.js";
import { silentReporter } from "../reporter.js";
import { DescriptorError } from "./errors.js";

/** The descriptor's version field (chunks.rs `VERSION_AND_HEADER`). */
export const DESCRIPTOR_VERSION = 0x333333334n;
/** Bytes before the per-chunk hashes. */
export const DESCRIPTOR_HEADER_SIZE = 52;
/** Size of each per-chunk SHA-256. */
export const CHUNK_HASH_SIZE = 32;
/** The registry's documented chunk-count limit (gvmkit-build README: "Total limit of chunks is set to 1000"). */
export const MAX_CHUNKS = 1000;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface FileChunk {
  /** 0-based chunk number (`chunk-no`). */
  no: number;
  /** Byte offset in the file (`chunk-pos`). */
  pos: number;
  /** Length in bytes (`chunk-len`). */
  len: number;
  /** SHA-256 of the chunk, lowercase hex (`chunk-sha256`). */
  sha256: string;
}

export interface ChunkDescriptor {
  size: number;
  chunkSize: number;
  /** SHA3-224 of the whole file, lowercase hex: the image hash for SDKs and providers. */
  sha3: string;
  chunks: FileChunk[];
  /** The serialized descriptor. */
  bytes: Uint8Array;
  /** SHA-256 of `bytes`, lowercase hex: names the upload. */
  sha256: string;
}

/**
 * Chunk size from file size, as gvmkit-build-rs src/main.rs chooses it (2 MiB up to 200 MiB, then
 * 5/10/20/50/100 MiB above 200 MiB/500 MiB/1 GiB/2 GiB/5 GiB). Beyond 100 GiB that would exceed
 * the 1000-chunk limit, so we grow the chunk size to the next MiB that fits.
 */
export function chooseChunkSize(fileSize: number): number {
  let size: number;
  if (fileSize > 5 * GiB) size = 100 * MiB;
  else if (fileSize > 2 * GiB) size = 50 * MiB;
  else if (fileSize > GiB) size = 20 * MiB;
  else if (fileSize > 500 * MiB) size = 10 * MiB;
  else if (fileSize > 200 * MiB) size = 5 * MiB;
  else size = 2 * MiB;
  if (Math.ceil(fileSize / size) > MAX_CHUNKS) size = Math.ceil(fileSize / MAX_CHUNKS / MiB) * MiB;
  return size;
}

function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

function checkSizes(size: number, chunkSize: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new DescriptorError(`file size ${size} out of range`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0)
    throw new DescriptorError(`chunk size ${chunkSize} out of range`);
}

/** Serialize; `chunkHashes` are lowercase hex SHA-256s, one per chunk. */
export function encodeDescriptor(fields: {
  size: number;
  chunkSize: number;
  sha3: string;
  chunkHashes: readonly string[];
}): Uint8Array {
  checkSizes(fields.size, fields.chunkSize);
  const n = chunkCount(fields.size, fields.chunkSize);
  if (fields.chunkHashes.length !== n) {
    throw new DescriptorError(`descriptor needs ${n} chunk hashes, got ${fields.chunkHashes.length}`);
  }
  if (!/^[0-9a-f]{56}$/.test(fields.sha3))
    throw new DescriptorError("SHA3-224 must be 56 lowercase hex digits");
  const out = new Uint8Array(DESCRIPTOR_HEADER_SIZE + n * CHUNK_HASH_SIZE);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, DESCRIPTOR_VERSION, false);
  view.setBigUint64(8, BigInt(fields.size), false);
  view.setBigUint64(16, BigInt(fields.chunkSize), false);
  out.set(Buffer.from(fields.sha3, "hex"), 24);
  fields.chunkHashes.forEach((h, i) => {
    if (!/^[0-9a-f]{64}$/.test(h))
      throw new DescriptorError(`chunk ${i}: SHA-256 must be 64 lowercase hex digits`);
    out.set(Buffer.from(h, "hex"), DESCRIPTOR_HEADER_SIZE + i * CHUNK_HASH_SIZE);
  });
  return out;
}

/** Parse and check a serialized descriptor (chunks.rs `deserialize_from_bytes`). */
export function decodeDescriptor(bytes: Uint8Array, path?: string): ChunkDescriptor {
  if (bytes.length < DESCRIPTOR_HEADER_SIZE) {
    throw new DescriptorError(
      `descriptor is ${bytes.length} bytes, shorter than its ${DESCRIPTOR_HEADER_SIZE}-byte header`,
      { path },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getBigUint64(0, false);
  if (version !== DESCRIPTOR_VERSION) {
    throw new DescriptorError(
      `descriptor version 0x${version.toString(16)} is not 0x${DESCRIPTOR_VERSION.toString(16)}`,
      { path },
    );
  }
  const size64 = view.getBigUint64(8, false);
  const chunk64 = view.getBigUint64(16, false);
  if (
    size64 > BigInt(Number.MAX_SAFE_INTEGER) ||
    chunk64 > BigInt(Number.MAX_SAFE_INTEGER) ||
    chunk64 === 0n
  ) {
    throw new DescriptorError("descriptor sizes out of range", { path });
  }
  const size = Number(size64);
  const chunkSize = Number(chunk64);
  const n = chunkCount(size, chunkSize);
  if (bytes.length !== DESCRIPTOR_HEADER_SIZE + n * CHUNK_HASH_SIZE) {
    throw new DescriptorError(
      `descriptor is ${bytes.length} bytes; ${n} chunks need ${DESCRIPTOR_HEADER_SIZE + n * CHUNK_HASH_SIZE}`,
      { path },
    );
  }
  const hex = (a: number, b: number) => Buffer.from(bytes.subarray(a, b)).toString("hex");
  const chunks: FileChunk[] = [];
  for (let i = 0; i < n; i++) {
    const pos = i * chunkSize;
    const at = DESCRIPTOR_HEADER_SIZE + i * CHUNK_HASH_SIZE;
    chunks.push({ no: i, pos, len: Math.min(chunkSize, size - pos), sha256: hex(at, at + CHUNK_HASH_SIZE) });
  }
  return {
    size,
    chunkSize,
    sha3: hex(24, DESCRIPTOR_HEADER_SIZE),
    chunks,
    bytes: new Uint8Array(bytes),
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/**
 * Read `path` once, computing each chunk's SHA-256 and the whole file's SHA3-224. Progress goes
 * to a "hashing" task. Warns `W_GOLEM_TOO_MANY_CHUNKS` past the registry's limit.
 */
export async function createDescriptor(
  path: string,
  options: { chunkSize?: number; reporter?: Reporter } = {},
): Promise<ChunkDescriptor> {
  const reporter = options.reporter ?? silentReporter;
  const { size } = await stat(path);
  const chunkSize = options.chunkSize ?? chooseChunkSize(size);
  checkSizes(size, chunkSize);
  if (chunkCount(size, chunkSize) > MAX_CHUNKS) {
    reporter.warn({
      code: "W_GOLEM_TOO_MANY_CHUNKS",
      message: `${chunkCount(size, chunkSize)} chunks of ${chunkSize} bytes exceed the registry's limit of ${MAX_CHUNKS}; use a larger chunk size`,
    });
  }
  const task = reporter.task("hashing chunks for the descriptor", size, { kind: "hash" });
  try {
    const sha3 = createHash("sha3-224");
    const hashes: string[] = [];
    let chunkHash = createHash("sha256");
    let inChunk = 0;
    let total = 0;
    for await (const buf of createReadStream(path, { highWaterMark: 1 << 20 })) {
      let data = buf as Buffer;
      sha3.update(data);
      total += data.length;
      task.advance(data.length);
      // Split reads at chunk boundaries: chunk size need not be a multiple of the read size.
      while (data.length > 0) {
        const take = Math.min(chunkSize - inChunk, data.length);
        chunkHash.update(data.subarray(0, take));
        inChunk += take;
        data = data.subarray(take);
        if (inChunk === chunkSize) {
          hashes.push(chunkHash.digest("hex"));
          chunkHash = createHash("sha256");
          inChunk = 0;
        }
      }
    }
    if (inChunk > 0) hashes.push(chunkHash.digest("hex"));
    if (total !== size) throw new DescriptorError(`${path} changed size while being hashed`, { path });
    return decodeDescriptor(
      encodeDescriptor({ size, chunkSize, sha3: sha3.digest("hex"), chunkHashes: hashes }),
      path,
    );
  } finally {
    task.done();
  }
}

/** `<image>.descr.bin`, the incumbent's cache file name. */
export function descriptorPathFor(imagePath: string): string {
  return imagePath + ".descr.bin";
}

/**
 * The incumbent's cache rule (src/main.rs): reuse `<image>.descr.bin` when it is not older than the
 * image, parses, matches the image's size and has the wanted chunk size; otherwise hash the image
 * and (re)write it, atomically.
 */
export async function loadOrCreateDescriptor(
  imagePath: string,
  options: { chunkSize?: number; reporter?: Reporter } = {},
): Promise<ChunkDescriptor & { reused: boolean }> {
  const reporter = options.reporter ?? silentReporter;
  const image = await stat(imagePath);
  const chunkSize = options.chunkSize ?? chooseChunkSize(image.size);
  const descrPath = descriptorPathFor(imagePath);
  try {
    const descrStat = await stat(descrPath);
    if (descrStat.mtimeMs >= image.mtimeMs) {
      const d = decodeDescriptor(await readFile(descrPath), descrPath);
      if (d.chunkSize === chunkSize && d.size === image.size) return { ...d, reused: true };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      reporter.info(`recreating ${descrPath}: ${(err as Error).message}`);
    }
  }
  const d = await createDescriptor(imagePath, { chunkSize, reporter });
  await writeAtomically(descrPath, { force: true }, (tmp) => writeFile(tmp, d.bytes));
  return { ...d, reused: false };
}
