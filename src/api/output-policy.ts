/**
 * The one rule for an output path that already holds a file, for every use case that writes one
 * (convert to .gvmi, convert --format squashfs, `gvmconv squashfs`):
 *
 *   - nothing there                                   → create it;
 *   - a file gvmconv wrote from the same source with
 *     the same options                                → keep it (unless forced);
 *   - a file gvmconv wrote, but from another source or
 *     with other options                              → rebuild over it;
 *   - a file gvmconv did not write (or cannot tell)   → refuse, `E_OUTPUT_NOT_OURS`, unless forced.
 *
 * How "the same" is known, per format:
 *
 * .gvmi — from the file itself, so that nothing is added to it: its bytes are pinned (providers
 * cache images by SHA3-224, see test/pinned-bytes.test.ts), and the trailer is read by the Golem
 * runtime with serde, where an unknown key is a risk we do not take. The trailer holds the
 * ContainerConfig, which is a pure function of the image id, the image config and every runtime
 * option (--env, --volume, --entrypoint, --workdir, --keep-user): we build the one this run would
 * write and compare. The superblock holds the compression id, the block size and the filesystem
 * time, and the compressor options block after it holds gzip's and lzo's level and lz4's HC flag:
 * we compare those with what the writer would write. Mount points: an output that should carry
 * them must have the top-level ones (/proc, /sys, /dev, /etc, /tmp, /.dockerenv), which are added
 * whenever the image lacks them. Not recorded anywhere in the file, so not
 * compared: the xz level and --always-compress, which change how well blocks compress but not one
 * byte the VM reads, and turning mount points off (the image may have had them); pass --force to
 * rebuild after changing only those. A gvmkit-build output of
 * the same image carries other trailer keys (Hostname) and is rebuilt, not kept.
 *
 * plain SquashFS — the file carries no image id and no place for one that keeps its bytes equal
 * to mksquashfs's (pinned too). So the fingerprint (source identity + every option that affects
 * the bytes) is recorded in a small sidecar, `.<name>.gvmconv.json` beside it, together with the
 * output's own size, mtime and inode: a file changed or replaced since (or copied elsewhere)
 * no longer matches its record and counts as not ours. The record is never needed to read the
 * image; losing it only costs a `--force`.
 */
import { createHash } from "node:crypto";
import { open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { GvmconvError } from "../errors.js";
import { readGvmiTrailer, type ContainerConfig } from "../gvmi/index.js";
import {
  checkWriterOptions,
  createCompressor,
  decodeSuperblock,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_LEVEL,
  SquashfsReader,
  SUPERBLOCK_SIZE,
  SuperblockFlags,
  type WriterOptions,
} from "../squashfs/index.js";

/** An existing output gvmconv did not write (or that changed since): replaced only with --force. */
export class OutputNotOursError extends GvmconvError {
  readonly path: string;
  constructor(path: string, why: string) {
    super("E_OUTPUT_NOT_OURS", `${path} exists and ${why}`, {
      hint: "pass --force to replace it, or choose another output path",
    });
    this.path = path;
  }
}

/** What this run would write, for comparison with what is there. */
export type OutputExpectation =
  | {
      format: "gvmi";
      /** The trailer this run writes (User left out when it is resolved from the layers). */
      containerConfig: ContainerConfig;
      /** --keep-user: the trailer's User comes from the image's /etc/passwd; only its presence is compared. */
      userFromLayers: boolean;
      writer: WriterOptions;
      /**
       * Paths the image must have (top-level mount points, which are added whenever missing);
       * empty when mount points are not added, which cannot be told from the file.
       */
      mountPoints?: readonly string[];
    }
  | {
      format: "squashfs";
      /** The source's identity and every option that affects the bytes; undefined: the source cannot be identified (a directory, stdin), so never kept. */
      fingerprint: string | undefined;
      writer: WriterOptions;
    };

export type OutputDecision =
  { action: "create" } | { action: "keep" } | { action: "replace"; reason: "forced" | "changed" };

/** The decision for `path` (see the file comment); throws `OutputNotOursError` for a foreign file. */
export async function decideOutput(
  path: string,
  expected: OutputExpectation,
  force: boolean,
): Promise<OutputDecision> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  // A directory (or worse) is for writeAtomically's and checkOutputPath's own errors.
  if (st === undefined || !st.isFile()) return { action: "create" };
  if (force) return { action: "replace", reason: "forced" };
  const same =
    expected.format === "gvmi" ? await sameGvmi(path, expected) : await sameSquashfs(path, expected);
  if (same === "foreign") throw notOurs(path, expected.format);
  return same === "same" ? { action: "keep" } : { action: "replace", reason: "changed" };
}

function notOurs(path: string, format: OutputExpectation["format"]): OutputNotOursError {
  return new OutputNotOursError(
    path,
    format === "gvmi"
      ? "is not a .gvmi (no readable trailer naming an image)"
      : "was not written by gvmconv (or changed since)",
  );
}

/**
 * Throws `OutputNotOursError` now when `path` holds a file gvmconv did not write and `force` is
 * not given: what `decideOutput` would find, without knowing yet what this run would write, so a
 * caller can refuse before its warnings about the image and before any download.
 */
export async function checkOwnOutput(
  path: string,
  format: OutputExpectation["format"],
  force: boolean,
): Promise<void> {
  if (force) return;
  const st = await stat(path).catch(() => undefined);
  if (st === undefined || !st.isFile()) return;
  const owned =
    format === "gvmi" ? (await gvmiImageId(path)) !== undefined : (await readRecord(path)) !== undefined;
  if (!owned) throw notOurs(path, format);
}

/** The image id a .gvmi's trailer names, or undefined when the file is not a readable .gvmi. */
async function gvmiImageId(path: string): Promise<string | undefined> {
  try {
    const image = (await readGvmiTrailer(path)).config["Image"];
    return typeof image === "string" && IMAGE_ID.test(image) ? image : undefined;
  } catch {
    return undefined;
  }
}

type Comparison = "same" | "changed" | "foreign";

const IMAGE_ID = /^(sha256:)?[0-9a-f]{64}$/;

async function sameGvmi(
  path: string,
  expected: Extract<OutputExpectation, { format: "gvmi" }>,
): Promise<Comparison> {
  let config: Record<string, unknown>;
  try {
    config = (await readGvmiTrailer(path)).config;
  } catch {
    return "foreign";
  }
  const image = config["Image"];
  if (typeof image !== "string" || !IMAGE_ID.test(image)) return "foreign";
  const { User: haveUser, ...have } = config;
  const { User: wantUser, ...want } = expected.containerConfig;
  if (expected.userFromLayers ? haveUser === undefined : haveUser !== wantUser) return "changed";
  if (canonical(have) !== canonical(want)) return "changed";
  if (!(await sameSuperblock(path, expected.writer))) return "changed";
  return (await hasPaths(path, expected.mountPoints ?? [])) ? "same" : "changed";
}

/** True when the .gvmi's SquashFS has every one of `paths` (an output built without mount points lacks some). */
async function hasPaths(path: string, paths: readonly string[]): Promise<boolean> {
  if (paths.length === 0) return true;
  const { squashfsSize } = await readGvmiTrailer(path);
  let reader: SquashfsReader;
  try {
    reader = await SquashfsReader.open({ path, offset: 0, length: squashfsSize });
  } catch {
    return false;
  }
  try {
    for (const p of paths) {
      const found = await reader.lookup(p).then(
        () => true,
        () => false,
      );
      if (!found) return false;
    }
    return true;
  } finally {
    await reader.close();
  }
}

/** Compression id, block size, filesystem time and compressor options as the writer would write them. */
async function sameSuperblock(path: string, writer: WriterOptions): Promise<boolean> {
  const name = writer.compression ?? "gzip";
  const compressor = createCompressor({
    name,
    level: writer.level ?? DEFAULT_LEVEL[name],
    blockSize: writer.blockSize ?? DEFAULT_BLOCK_SIZE,
  });
  const handle = await open(path, "r");
  try {
    const head = new Uint8Array(SUPERBLOCK_SIZE + 2 + 64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    let sb;
    try {
      sb = decodeSuperblock(head.subarray(0, bytesRead));
    } catch {
      return false;
    }
    if (sb.compressionId !== compressor.id) return false;
    if (sb.blockSize !== (writer.blockSize ?? DEFAULT_BLOCK_SIZE)) return false;
    if (sb.modificationTime !== (writer.mkfsTime ?? 0)) return false;
    const hasOptions = (sb.flags & SuperblockFlags.COMPRESSOR_OPTIONS) !== 0;
    if (hasOptions !== (compressor.options !== null)) return false;
    if (compressor.options === null) return true;
    // One uncompressed metadata block: a 2-byte header, then the options.
    const stored = head.subarray(SUPERBLOCK_SIZE + 2, SUPERBLOCK_SIZE + 2 + compressor.options.length);
    return Buffer.from(stored).equals(Buffer.from(compressor.options));
  } finally {
    await handle.close();
  }
}

/** Where a plain SquashFS output's record lives. */
export function recordPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.gvmconv.json`);
}

interface OutputRecord {
  fingerprint: string | null;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** The record of a plain SquashFS output, when it is there and the file is still the one it describes. */
async function readRecord(path: string): Promise<OutputRecord | undefined> {
  let record: OutputRecord;
  try {
    record = JSON.parse(await readFile(recordPath(path), "utf8")) as OutputRecord;
  } catch {
    return undefined;
  }
  const st = await stat(path);
  if (record.size !== st.size || record.mtimeMs !== st.mtimeMs || record.ino !== st.ino) return undefined;
  return record;
}

async function sameSquashfs(
  path: string,
  expected: Extract<OutputExpectation, { format: "squashfs" }>,
): Promise<Comparison> {
  const record = await readRecord(path);
  if (record === undefined) return "foreign";
  if (expected.fingerprint === undefined || record.fingerprint !== expected.fingerprint) return "changed";
  return "same";
}

/** After a plain SquashFS output is in place: record what it was built from (see the file comment). */
export async function recordOutput(path: string, fingerprint: string | undefined): Promise<void> {
  const st = await stat(path);
  const record: OutputRecord = {
    fingerprint: fingerprint ?? null,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ino: st.ino,
  };
  // The image is complete without it; a record that cannot be written only costs a --force later.
  await writeFile(recordPath(path), `${JSON.stringify(record)}\n`).catch(() =>
    rm(recordPath(path), { force: true }),
  );
}

/** SHA-256 of a value's canonical JSON (keys sorted): a fingerprint of a source and its options. */
export function fingerprint(value: unknown): string {
  return createHash("sha256").update(canonical(value)).digest("hex");
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/**
 * The writer options that change the bytes of an image (not workers, not the xz backend — both
 * xz backends write the same bytes — not the block cache). gzip's encoder does change them
 * (libdeflate or zlib, and which libdeflate: the encoder fingerprint in the backend string).
 */
export function byteOptions(writer: WriterOptions): Record<string, unknown> {
  const name = writer.compression ?? "gzip";
  return {
    ...(name === "gzip" ? { gzipEncoder: checkWriterOptions(writer).backend } : {}),
    compression: name,
    level: writer.level ?? DEFAULT_LEVEL[name],
    blockSize: writer.blockSize ?? DEFAULT_BLOCK_SIZE,
    mkfsTime: writer.mkfsTime ?? 0,
    skipIncompressible: writer.skipIncompressible ?? true,
    padding: writer.padding ?? 4096,
    dedupe: writer.dedupe ?? true,
    exportTable: writer.exportTable ?? true,
  };
}
