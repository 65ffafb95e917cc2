/** `gvmconv ls`: list a directory of the image, like `ls` (`-l` with numeric ids, as `ls -ln`). */
import { Command, Option, type BaseContext } from "clipanion";
import { isDirectory, type SquashfsStat } from "../../squashfs/index.js";
import { reportError } from "../errors.js";
import { openImageFile } from "../image-file.js";

export class LsCommand extends Command<BaseContext> {
  static override paths = [["ls"]];
  static override usage = Command.Usage({
    description: "list a directory inside a .gvmi or SquashFS image",
    details: `
      PATH is an image path (default: the root). Symlinks are listed, never followed.
      -l prints mode, link count, numeric uid and gid, size (major, minor for devices), mtime
      (UTC) and name, with "-> target" for symlinks. -R lists subdirectories too.
    `,
    examples: [["Long listing of /etc", "$0 ls app.gvmi /etc -l"]],
  });

  file = Option.String({ name: "FILE" });
  imagePath = Option.String({ name: "PATH", required: false });
  long = Option.Boolean("-l", false, { description: "long listing" });
  recursive = Option.Boolean("-R", false, { description: "list subdirectories recursively" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const { reader } = await openImageFile(this.file);
      try {
        const start = normalize(this.imagePath ?? "/");
        const inode = await reader.lookup(start);
        if (!isDirectory(inode)) {
          stdout.write(`${this.#line(start.split("/").pop() || "/", await reader.stat(inode))}\n`);
          return 0;
        }
        const queue = [start];
        let first = true;
        while (queue.length > 0) {
          const dir = queue.shift()!;
          const entries = await reader.readdir(dir);
          const out: string[] = [];
          if (this.recursive) out.push(`${first ? "" : "\n"}/${dir}:`);
          first = false;
          const subdirs: string[] = [];
          for (const e of entries) {
            const path = dir === "" ? e.name : `${dir}/${e.name}`;
            out.push(this.long ? this.#line(e.name, await reader.stat(await reader.entryInode(e))) : e.name);
            if (e.kind === "dir") subdirs.push(path);
          }
          // Depth first, in listing order, as ls -R.
          if (this.recursive) queue.unshift(...subdirs);
          if (out.length > 0) stdout.write(`${out.join("\n")}\n`);
        }
        return 0;
      } finally {
        await reader.close();
      }
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }

  #line(name: string, st: SquashfsStat): string {
    if (!this.long) return name;
    const size = st.rdev ? `${st.rdev.major}, ${st.rdev.minor}` : String(st.size);
    const when = new Date(st.mtime * 1000).toISOString().slice(0, 16).replace("T", " ");
    const target = st.target !== undefined ? ` -> ${st.target}` : "";
    return `${modeString(st.mode)} ${st.nlink} ${st.uid} ${st.gid} ${size} ${when} ${name}${target}`;
  }
}

/** Image paths without leading/trailing slashes ("" is the root). */
function normalize(path: string): string {
  return path.split("/").filter((p) => p !== "" && p !== ".").join("/");
}

const TYPE_CHAR: Record<number, string> = { 0o04: "d", 0o10: "-", 0o12: "l", 0o06: "b", 0o02: "c", 0o01: "p", 0o14: "s" };

/** `drwxr-xr-x` from st_mode, with s/S/t/T for setuid, setgid and sticky as ls prints them. */
export function modeString(mode: number): string {
  const type = TYPE_CHAR[(mode >> 12) & 0o17] ?? "?";
  const rwx = (bits: number, special: boolean, ch: string): string =>
    (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? "x" : "-");
  return (
    type +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s") +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s") +
    rwx(mode & 7, (mode & 0o1000) !== 0, "t")
  );
}
