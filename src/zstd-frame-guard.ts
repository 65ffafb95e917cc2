/**
 * Walks the frame structure of a zstd stream (RFC 8878 §3.1) ahead of the decoder, to refuse what
 * would make it allocate or work without bound before it sees the bytes.
 *
 * fzstd allocates each frame's whole window as soon as it reads the frame header — up to the
 * 2 GiB its own check allows — and moves that window by one block's length for every block it
 * decodes, so a 20-byte header declaring a 1 GiB window followed by 4-byte RLE blocks costs 1 GiB
 * of memory and ~0.1 s of CPU per 128 KiB of output (measured). The guard reads only headers: the
 * frame header (window descriptor or single-segment content size), then each block's 3-byte
 * header, skipping the block's bytes, then the optional checksum; skippable frames are skipped.
 * It holds at most one frame header (≤ 18 bytes) between chunks.
 */

/**
 * Largest window a frame may declare: 8 MiB, what zstd levels 1–19 use at most, and the default
 * window of klauspost/compress's encoder, which docker buildx, BuildKit, containerd and podman
 * write zstd layers with. `--ultra -20…-22` (32–128 MiB) and `--long` are refused. The bound is
 * also one on time: fzstd moves its whole window once per block, so a block costs ~3 ms at an
 * 8 MiB window and ~13 ms at 32 MiB (measured, 128 KiB blocks), and a hostile layer of RLE
 * blocks reaches the layer ratio cap's 256 MiB in ~6 s instead of ~26 s.
 */
export const MAX_ZSTD_WINDOW = 8 * 1024 * 1024;

/** A block never holds more than 128 KiB of content (RFC 8878 §3.1.1.2.4, Block_Maximum_Size). */
const MAX_BLOCK = 128 * 1024;

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 … 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Why a stream was refused: `limit` for a window past the bound, `format` for bytes no zstd stream has. */
export class ZstdFrameError extends Error {
  readonly kind: "limit" | "format";
  readonly window: number | undefined;
  constructor(kind: "limit" | "format", message: string, window?: number) {
    super(message);
    this.kind = kind;
    this.window = window;
  }
}

type State =
  | { at: "magic" }
  | { at: "skippable-size" }
  | { at: "frame-header"; need: number }
  | { at: "block-header"; checksum: boolean }
  | { at: "skip"; left: number; then: "block" | "frame"; checksum: boolean };

export class ZstdFrameGuard {
  readonly #maxWindow: number;
  #state: State = { at: "magic" };
  /** Header bytes carried over from the previous chunk (at most one frame header). */
  #held: Uint8Array = new Uint8Array(0);

  constructor(maxWindow = MAX_ZSTD_WINDOW) {
    this.#maxWindow = maxWindow;
  }

  /**
   * Checks the next chunk of the stream; throws `ZstdFrameError` at the first refused header.
   * Returns the offsets in `chunk` (ascending, 0 < offset < length) where a block ends: feeding
   * the decoder one block at a time bounds what one call can produce to one block, 128 KiB,
   * where a 64 KiB chunk of RLE blocks would otherwise inflate to 2 GiB in a single call.
   */
  check(chunk: Uint8Array): number[] {
    const cuts: number[] = [];
    const carried = this.#held.length;
    const cut = (at: number): void => {
      const offset = at - carried;
      if (offset > 0 && offset < chunk.length) cuts.push(offset);
    };
    let buf = chunk;
    if (this.#held.length > 0) {
      buf = new Uint8Array(this.#held.length + chunk.length);
      buf.set(this.#held);
      buf.set(chunk, this.#held.length);
      this.#held = new Uint8Array(0);
    }
    let pos = 0;
    for (;;) {
      const state = this.#state;
      if (state.at === "skip") {
        const n = Math.min(state.left, buf.length - pos);
        pos += n;
        if (n < state.left) {
          this.#state = { ...state, left: state.left - n };
          return cuts;
        }
        cut(pos);
        this.#state =
          state.then === "block" ? { at: "block-header", checksum: state.checksum } : { at: "magic" };
        continue;
      }
      const need =
        state.at === "magic"
          ? 4
          : state.at === "skippable-size"
            ? 4
            : state.at === "block-header"
              ? 3
              : state.need;
      if (buf.length - pos < need) {
        this.#held = buf.slice(pos);
        return cuts;
      }
      const view = new DataView(buf.buffer, buf.byteOffset + pos, need);
      if (state.at === "magic") {
        const magic = view.getUint32(0, true);
        if (magic === ZSTD_MAGIC) {
          // The descriptor byte tells how long the rest of the header is: peek at it first.
          if (buf.length - pos < 5) {
            this.#held = buf.slice(pos);
            return cuts;
          }
          this.#state = { at: "frame-header", need: 4 + frameHeaderLength(buf[pos + 4] ?? 0) };
          continue;
        }
        if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          pos += 4;
          this.#state = { at: "skippable-size" };
          continue;
        }
        throw new ZstdFrameError("format", `not a zstd frame (magic 0x${magic.toString(16)})`);
      }
      if (state.at === "skippable-size") {
        const size = view.getUint32(0, true);
        pos += 4;
        this.#state = { at: "skip", left: size, then: "frame", checksum: false };
        continue;
      }
      if (state.at === "frame-header") {
        const { window, checksum } = this.#frameHeader(buf.subarray(pos, pos + need));
        if (window > this.#maxWindow) {
          throw new ZstdFrameError(
            "limit",
            `a zstd frame declares a ${formatBytes(window)} window; at most ${formatBytes(this.#maxWindow)} is decoded`,
            window,
          );
        }
        pos += need;
        this.#state = { at: "block-header", checksum };
        continue;
      }
      // A block header: Last_Block (bit 0), Block_Type (bits 1–2), Block_Size (bits 3–23).
      const word = (buf[pos] ?? 0) | ((buf[pos + 1] ?? 0) << 8) | ((buf[pos + 2] ?? 0) << 16);
      pos += 3;
      const last = (word & 1) === 1;
      const type = (word >> 1) & 3;
      const size = word >>> 3;
      if (type === 3) throw new ZstdFrameError("format", "a zstd block has the reserved type 3");
      if (size > MAX_BLOCK)
        throw new ZstdFrameError("format", `a zstd block declares ${size} bytes (at most 128 KiB)`);
      // Raw and compressed blocks carry Block_Size bytes; an RLE block carries one.
      const body = type === 1 ? 1 : size;
      const after = last && state.checksum ? 4 : 0;
      this.#state = last
        ? { at: "skip", left: body + after, then: "frame", checksum: false }
        : { at: "skip", left: body, then: "block", checksum: state.checksum };
    }
  }

  /** The window a frame header declares (RFC 8878 §3.1.1.1), and whether a checksum ends the frame. */
  #frameHeader(h: Uint8Array): { window: number; checksum: boolean } {
    const fhd = h[4] ?? 0;
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd >> 5) & 1;
    if (fhd & 0x08) throw new ZstdFrameError("format", "a zstd frame header sets the reserved bit");
    const checksum = ((fhd >> 2) & 1) === 1;
    const dictBytes = [0, 1, 2, 4][fhd & 3] ?? 0;
    if (singleSegment === 0) {
      const wd = h[5] ?? 0;
      const base = 2 ** (10 + (wd >> 3));
      return { window: base + (base / 8) * (wd & 7), checksum };
    }
    // Single segment: the window is the content size, which follows the dictionary id.
    const at = 5 + dictBytes;
    const fcsBytes = [1, 2, 4, 8][fcsFlag] ?? 1;
    let size = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + (h[at + i] ?? 0);
    if (fcsBytes === 2) size += 256;
    return { window: size, checksum };
  }
}

/** Magic excluded: descriptor, window byte, dictionary id and content size (RFC 8878 §3.1.1.1). */
function frameHeaderLength(fhd: number): number {
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3] ?? 0;
  const fcsBytes = fcsFlag === 0 ? singleSegment : ([0, 2, 4, 8][fcsFlag] ?? 0);
  return 1 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  return `${n} bytes`;
}
