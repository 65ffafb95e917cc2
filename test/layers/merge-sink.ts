/**
 * A tiny stand-in for the SquashFS writer, for the merge tests: it applies `Entry`s with the
 * writer's documented semantics (squashfs/entry.ts) and is stricter where the merge promises more
 * (it never yields a non-directory over a directory, under a non-directory, or a hard link to a
 * hard link). File contents are read as they stream by, like the writer does, and kept as sha256.
 */
import { createHash } from "node:crypto";
import type { Entry } from "../../src/squashfs/index.js";

export interface SinkNode {
  type: Exclude<Entry["type"], "hardlink">;
  mode: number;
  uid: number;
  gid: number;
  /** sha256 of the content (files), the link target (symlinks), `major:minor` (devices). */
  data: string;
  size: number;
  xattrs: string;
  /** Shared by hard links. */
  inode: number;
  /** Content as text, for readable assertions on small files. */
  text?: string;
}

export class Sink {
  readonly tree = new Map<string, SinkNode>([["", dirNode(0)]]);
  readonly entries: Entry[] = [];
  #nextInode = 1;
  #links: { path: string; target: string }[] = [];

  async consume(entries: AsyncIterable<Entry>): Promise<this> {
    for await (const entry of entries) await this.add(entry);
    this.finish();
    return this;
  }

  async add(entry: Entry): Promise<void> {
    this.entries.push(entry);
    const parts = entry.path === "" ? [] : entry.path.split("/");
    for (let i = 0; i < parts.length - 1; i++) {
      const parent = parts.slice(0, i + 1).join("/");
      const existing = this.tree.get(parent);
      if (!existing) this.tree.set(parent, dirNode(this.#nextInode++));
      else if (existing.type !== "directory")
        throw new Error(`'${entry.path}' yielded under non-directory '${parent}'`);
    }
    const existing = this.tree.get(entry.path);
    if (entry.type === "hardlink") {
      if (existing?.type === "directory") throw new Error(`hard link '${entry.path}' over a directory`);
      this.#links.push({ path: entry.path, target: entry.target });
      return;
    }
    if (entry.type === "directory") {
      if (existing?.type === "directory") Object.assign(existing, attrsOf(entry));
      else this.tree.set(entry.path, { ...dirNode(this.#nextInode++), ...attrsOf(entry) });
      return;
    }
    if (existing?.type === "directory") throw new Error(`${entry.type} '${entry.path}' over a directory`);
    this.#links = this.#links.filter((l) => l.path !== entry.path);
    const node: SinkNode = { ...dirNode(this.#nextInode++), ...attrsOf(entry), type: entry.type };
    if (entry.type === "file") {
      const hash = createHash("sha256");
      const chunks: Buffer[] = [];
      if (entry.content instanceof Uint8Array) chunks.push(Buffer.from(entry.content));
      else for await (const c of entry.content) chunks.push(Buffer.from(c));
      const body = Buffer.concat(chunks);
      if (body.length !== entry.size)
        throw new Error(`'${entry.path}': ${body.length} bytes, header says ${entry.size}`);
      node.data = hash.update(body).digest("hex");
      node.size = body.length;
      node.text = body.toString("utf8");
    } else if (entry.type === "symlink") {
      node.data = entry.target;
    } else if (entry.type === "char-device" || entry.type === "block-device") {
      node.data = `${entry.major}:${entry.minor}`;
    }
    this.tree.set(entry.path, node);
  }

  /** Resolves hard links against the final tree, as the writer does at finish. */
  finish(): void {
    for (const { path, target } of this.#links) {
      if (this.#links.some((l) => l.path === target))
        throw new Error(`hard link '${path}' → hard link '${target}'`);
      const node = this.tree.get(target);
      if (!node) throw new Error(`hard link '${path}' → missing '${target}'`);
      if (node.type === "directory") throw new Error(`hard link '${path}' → directory '${target}'`);
      this.tree.set(path, node);
    }
  }

  /** `path type mode uid:gid data` lines, sorted; a path sharing the inode of an earlier (sorted) path ends in `=that path`. */
  describe(): string[] {
    const firstPathOfInode = new Map<number, string>();
    const paths = [...this.tree.keys()].sort();
    for (const p of paths) {
      const node = this.tree.get(p) as SinkNode;
      if (!firstPathOfInode.has(node.inode)) firstPathOfInode.set(node.inode, p);
    }
    return paths.map((p) => {
      const n = this.tree.get(p) as SinkNode;
      const shown = n.type === "file" ? JSON.stringify(n.text) : n.data;
      const first = firstPathOfInode.get(n.inode);
      const link = first !== p ? ` =${first}` : "";
      return `${p || "/"} ${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid}${shown ? ` ${shown}` : ""}${link}`;
    });
  }
}

function dirNode(inode: number): SinkNode {
  return { type: "directory", mode: 0o755, uid: 0, gid: 0, data: "", size: 0, xattrs: "", inode };
}

function attrsOf(
  entry: Exclude<Entry, { type: "hardlink" }>,
): Pick<SinkNode, "mode" | "uid" | "gid" | "xattrs"> {
  const xattrs = [...(entry.attrs.xattrs ?? new Map<string, Uint8Array>())]
    .map(([k, v]) => `${k}=${Buffer.from(v).toString("hex")}`)
    .sort()
    .join(",");
  return { mode: entry.attrs.mode & 0o7777, uid: entry.attrs.uid, gid: entry.attrs.gid, xattrs };
}
