/**
 * Turning a SquashFS image into a .gvmi file: padding, trailer, hash. (Atomic placement is
 * src/atomic-output.ts's job; what to do about an existing output, src/api/output-policy.ts's.)
 */
import { open, type FileHandle } from "node:fs/promises";
import { serializeContainerConfig, type ContainerConfig } from "./container-config.js";
import { hashFileRange, Sha3Hasher } from "./hash.js";
import { encodeTrailer } from "./trailer.js";

/**
 * The runtime attaches the .gvmi as a raw disk and the kernel refuses to mount a SquashFS whose
 * `bytes_used` reaches past the device's last whole block; mksquashfs pads to 4 KiB for the same
 * reason. We pad the SquashFS part with zeros to this multiple before the trailer.
 */
export const SQUASHFS_PAD = 4096;

export interface GvmiResult {
  /** Size of the whole .gvmi file. */
  size: number;
  /** SHA3-224 (lowercase hex) of the whole file: the image hash providers verify. */
  sha3: string;
  /** Bytes before the trailer (SquashFS plus padding). */
  squashfsSize: number;
}

function padding(size: number): Uint8Array {
  const rem = size % SQUASHFS_PAD;
  return new Uint8Array(rem === 0 ? 0 : SQUASHFS_PAD - rem);
}

/**
 * Append padding and the trailer to the SquashFS image at `squashfsPath`, in place, and return the
 * size and SHA3-224 of the result. The existing bytes are read once (to hash them); nothing else is
 * rewritten. On failure the file is truncated back to its original size.
 */
export async function appendTrailer(squashfsPath: string, config: ContainerConfig): Promise<GvmiResult> {
  const trailer = encodeTrailer(serializeContainerConfig(config));
  const hasher = new Sha3Hasher();
  const handle = await open(squashfsPath, "r+");
  let original = -1;
  try {
    original = (await handle.stat()).size;
    // Hash exactly the bytes we saw in stat(): a concurrent writer would be a bug, not our input.
    await hashFileRange(handle, original, hasher);
    const pad = padding(original);
    await writeAllAt(handle, pad, original);
    await writeAllAt(handle, trailer, original + pad.length);
    await handle.truncate(original + pad.length + trailer.length);
    await handle.sync();
    hasher.update(pad).update(trailer);
  } catch (err) {
    if (original >= 0) await handle.truncate(original).catch(() => {});
    throw err;
  } finally {
    await handle.close();
  }
  return { size: hasher.size, sha3: hasher.digest(), squashfsSize: hasher.size - trailer.length };
}

async function writeAllAt(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
