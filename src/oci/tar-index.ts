/**
 * An index of the regular files in an (uncompressed) tar file: name → byte range, so archive
 * sources read blobs in place with `createReadStream({ start, end })` instead of extracting.
 * Reads only the 512-byte headers (POSIX ustar, PAX `x` path/size, GNU `L` long names);
 * symbolic and hard links to files are resolved (old `docker save` dedups layers with symlinks).
 */
import { open } from "node:fs/promises";
import { posix } from "node:path";
import { LocalSourceError } from "./errors.js";

export interface TarEntry {
  /** Offset of the file data in the tar. */
  offset: number;
  size: number;
}

const BLOCK = 512;

function cstring(b: Buffer, start: number, len: number): string {
  const slice = b.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? slice.length : nul).toString("utf8");
}

function number(b: Buffer, start: number, len: number, path: string): number {
  const f = b.subarray(start, start + len);
  if ((f[0] ?? 0) & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is the marker.
    let v = BigInt((f[0] ?? 0) & 0x7f);
    for (let i = 1; i < f.length; i++) v = (v << 8n) | BigInt(f[i] ?? 0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LocalSourceError(path, "tar entry size beyond 2^53");
    return Number(v);
  }
  const s = cstring(b, start, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new LocalSourceError(path, `not a tar file (bad number field "${s}")`);
  return parseInt(s, 8);
}

/** Normalize `./blobs//sha256/x` → `blobs/sha256/x`. */
export function normalizeTarName(name: string): string {
  const n = posix.normalize(name.replace(/^\/+/, "")).replace(/\/+$/, "");
  return n === "." ? "" : n.replace(/^\.\//, "");
}

export class TarIndex {
  readonly path: string;
  readonly #files = new Map<string, TarEntry>();
  readonly #links = new Map<string, string>();

  private constructor(path: string) {
    this.path = path;
  }

  static async build(path: string): Promise<TarIndex> {
    const index = new TarIndex(path);
    const fh = await open(path, "r");
    try {
      const { size: fileSize } = await fh.stat();
      const header = Buffer.alloc(BLOCK);
      let pos = 0;
      let longName: string | undefined;
      let paxPath: string | undefined;
      let paxSize: number | undefined;
      while (pos + BLOCK <= fileSize) {
        const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
        if (bytesRead < BLOCK) break;
        if (header.every((x) => x === 0)) break; // end-of-archive marker
        const type = String.fromCharCode(header[156] ?? 0x30);
        let name = cstring(header, 0, 100);
        const magic = cstring(header, 257, 6);
        if (magic.startsWith("ustar")) {
          const prefix = cstring(header, 345, 155);
          if (prefix !== "" && magic === "ustar") name = `${prefix}/${name}`;
        }
        let size = number(header, 124, 12, path);
        if (paxSize !== undefined) size = paxSize;
        const dataStart = pos + BLOCK;
        const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
        if (type === "L" || type === "x" || type === "g" || type === "K") {
          if (size > 1024 * 1024) throw new LocalSourceError(path, "tar extended header larger than 1 MiB");
          const data = Buffer.alloc(size);
          await fh.read(data, 0, size, dataStart);
          if (type === "L") longName = cstring(data, 0, size);
          if (type === "x") {
            const pax = parsePax(data);
            if (pax.path !== undefined) paxPath = pax.path;
            if (pax.size !== undefined) paxSize = pax.size;
          }
          pos = next;
          continue;
        }
        const fullName = normalizeTarName(paxPath ?? longName ?? name);
        if (type === "0" || type === "\0" || type === "7") {
          if (dataStart + size > fileSize) throw new LocalSourceError(path, `tar is truncated inside ${fullName}`);
          index.#files.set(fullName, { offset: dataStart, size });
        } else if (type === "1" || type === "2") {
          const linkName = cstring(header, 157, 100);
          // Hard link targets are archive paths; symlink targets are relative to the link's directory.
          const target = type === "1" ? normalizeTarName(linkName) : normalizeTarName(posix.join(posix.dirname(fullName), linkName));
          index.#links.set(fullName, target);
        }
        longName = undefined;
        paxPath = undefined;
        paxSize = undefined;
        pos = type === "1" || type === "2" || type === "5" ? dataStart : next;
      }
    } finally {
      await fh.close();
    }
    return index;
  }

  /** The entry for `name`, following links (at most 16). */
  get(name: string): TarEntry | undefined {
    let n = normalizeTarName(name);
    for (let i = 0; i < 16; i++) {
      const f = this.#files.get(n);
      if (f !== undefined) return f;
      const l = this.#links.get(n);
      if (l === undefined) return undefined;
      n = l;
    }
    return undefined;
  }

  names(): string[] {
    return [...this.#files.keys(), ...this.#links.keys()];
  }
}

function parsePax(data: Buffer): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString("ascii"));
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const record = data.subarray(sp + 1, i + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) {
      const key = record.slice(0, eq);
      const value = record.slice(eq + 1);
      if (key === "path") out.path = value;
      if (key === "size" && /^\d+$/.test(value)) out.size = Number(value);
    }
    i += len;
  }
  return out;
}
