/**
 * What this machine last hashed in an output directory, in `.gvmconv-hashes.json`: file name →
 * size, inode, mtime, ctime and SHA3-224. A warm build stats its outputs rather than reading them
 * again (as make and ccache trust a file's stat): any write to a file changes its ctime, so a
 * matching stat means the bytes hashed before. The lock stays free of such machine-specific
 * fields; a missing or foreign memo only means hashing again.
 */
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha3File } from "../gvmi/index.js";

interface Entry {
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  sha3: string;
}

export const HASH_MEMO = ".gvmconv-hashes.json";

export class HashMemo {
  readonly #path: string;
  readonly #entries: Map<string, Entry>;
  #dirty = false;

  private constructor(path: string, entries: Map<string, Entry>) {
    this.#path = path;
    this.#entries = entries;
  }

  static async load(dir: string): Promise<HashMemo> {
    const path = join(dir, HASH_MEMO);
    const entries = new Map<string, Entry>();
    try {
      const value = JSON.parse(await readFile(path, "utf8")) as Record<string, Entry>;
      for (const [file, e] of Object.entries(value)) {
        if (typeof e?.sha3 === "string" && typeof e.size === "number") entries.set(file, e);
      }
    } catch {
      // None yet, or unreadable: every output is hashed again.
    }
    return new HashMemo(path, entries);
  }

  /** The SHA3-224 of `dir/file` (undefined when it does not exist), from the memo when its stat matches. */
  async sha3(dir: string, file: string): Promise<string | undefined> {
    const path = join(dir, file);
    const st = await stat(path).catch(() => undefined);
    if (st === undefined || !st.isFile()) return undefined;
    const known = this.#entries.get(file);
    if (
      known !== undefined &&
      known.size === st.size &&
      known.ino === st.ino &&
      known.mtimeMs === st.mtimeMs &&
      known.ctimeMs === st.ctimeMs
    ) {
      return known.sha3;
    }
    const { sha3 } = await sha3File(path);
    await this.note(dir, file, sha3);
    return sha3;
  }

  /** Records the hash of a file just written. */
  async note(dir: string, file: string, sha3: string): Promise<void> {
    const st = await stat(join(dir, file));
    this.#entries.set(file, { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, sha3 });
    this.#dirty = true;
  }

  async save(): Promise<void> {
    if (!this.#dirty) return;
    const temp = `${this.#path}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(Object.fromEntries(this.#entries)) + "\n");
    await rename(temp, this.#path);
    this.#dirty = false;
  }
}
