/**
 * Read-only access to the files of a local image source, whether a directory (OCI layout) or a
 * tar file indexed in place (oci-archive, docker-archive), plus a `LayerStore` over them that
 * verifies each blob against its digest as it streams.
 */
import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { DigestingStream, parseDigest, verifyBytes } from "../digest.js";
import { LocalSourceError, TooLargeError } from "../errors.js";
import type { LayerDescriptor, LayerStore } from "../image.js";
import { TarIndex } from "../tar-index.js";

export interface LocalFiles {
  /** For messages: the directory or archive path. */
  readonly location: string;
  /** Size of `name`, or undefined when absent. */
  size(name: string): Promise<number | undefined>;
  /** Whole file in memory, refusing more than `max` bytes; undefined when absent. */
  read(name: string, max: number): Promise<Buffer | undefined>;
  open(name: string): Promise<Readable | undefined>;
}

export function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

export class DirFiles implements LocalFiles {
  readonly location: string;
  constructor(dir: string) {
    this.location = dir;
  }
  #path(name: string): string {
    if (name.split("/").includes("..")) throw new LocalSourceError(this.location, `refusing path "${name}"`);
    return join(this.location, name);
  }
  async size(name: string): Promise<number | undefined> {
    try {
      const s = await stat(this.#path(name));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }
  async read(name: string, max: number): Promise<Buffer | undefined> {
    const size = await this.size(name);
    if (size === undefined) return undefined;
    if (size > max) throw new TooLargeError(`${this.location}/${name} is larger than ${max} bytes`, max);
    return await readFile(this.#path(name));
  }
  async open(name: string): Promise<Readable | undefined> {
    if ((await this.size(name)) === undefined) return undefined;
    return createReadStream(this.#path(name), { highWaterMark: 1 << 20 });
  }
}

export class TarFiles implements LocalFiles {
  readonly location: string;
  readonly #index: TarIndex;
  private constructor(path: string, index: TarIndex) {
    this.location = path;
    this.#index = index;
  }
  static async open(path: string): Promise<TarFiles> {
    return new TarFiles(path, await TarIndex.build(path));
  }
  async size(name: string): Promise<number | undefined> {
    return Promise.resolve(this.#index.get(name)?.size);
  }
  async read(name: string, max: number): Promise<Buffer | undefined> {
    const e = this.#index.get(name);
    if (e === undefined) return undefined;
    if (e.size > max) throw new TooLargeError(`${this.location}:${name} is larger than ${max} bytes`, max);
    const fh = await open(this.location, "r");
    try {
      const b = Buffer.alloc(e.size);
      await fh.read(b, 0, e.size, e.offset);
      return b;
    } finally {
      await fh.close();
    }
  }
  async open(name: string): Promise<Readable | undefined> {
    const e = this.#index.get(name);
    if (e === undefined) return undefined;
    if (e.size === 0) return createReadStream(this.location, { start: 1, end: 0 });
    return createReadStream(this.location, {
      start: e.offset,
      end: e.offset + e.size - 1,
      highWaterMark: 1 << 20,
    });
  }
}

/** Read a JSON blob by digest, verified and size-capped. */
export async function readBlob(
  files: LocalFiles,
  digest: string,
  max: number,
  what: string,
): Promise<Buffer> {
  const b = await files.read(blobPath(digest), max);
  if (b === undefined)
    throw new LocalSourceError(files.location, `${what} ${digest} is missing (${blobPath(digest)})`, {
      hint: "the layout lacks a blob its index or manifest names; copy or export the image again",
    });
  verifyBytes(b, digest, `${what} in ${files.location}`);
  return b;
}

/**
 * Layers read in place. `pathOf` maps a layer to its file; `verifyDigest` is false for legacy
 * `docker save` layers, which have no blob digest (the diff_id check still covers them).
 */
export function localLayerStore(
  files: LocalFiles,
  pathOf: (layer: LayerDescriptor) => string = (l) => blobPath(l.digest),
  verifyDigest: (layer: LayerDescriptor) => boolean = () => true,
): LayerStore {
  return {
    async fetch() {},
    async isLocal() {
      return Promise.resolve(true);
    },
    async openRaw(layer) {
      const name = pathOf(layer);
      const s = await files.open(name);
      if (s === undefined) {
        const foreign =
          layer.urls !== undefined && layer.urls.length > 0
            ? " (a foreign layer; this source does not include it)"
            : "";
        throw new LocalSourceError(files.location, `layer ${layer.index} (${name}) is missing${foreign}`);
      }
      if (!verifyDigest(layer)) return s;
      const v = new DigestingStream({
        expected: layer.digest,
        expectedSize: layer.size,
        what: `layer ${layer.index} blob in ${files.location}`,
      });
      s.on("error", (err) => v.destroy(err));
      return s.pipe(v);
    },
    async close() {},
  };
}
