/** `gvmconv ls`: list a directory of the image, like `ls` (`-l` with numeric ids, as `ls -ln`). */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import type { SquashfsStat } from "../../index.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";

export class LsCommand extends Command<BaseContext> {
  static override paths = [["ls"]];
  static override usage = Command.Usage({
    description: "list a directory inside a .gvmi or SquashFS image",
    details: `
      PATH is an image path (default: the root). Symlinks are listed, never followed.
      -l prints mode, link count, numeric uid and gid, size (major, minor for devices), mtime
      (UTC) and name, with "-> target" for symlinks. -R lists subdirectories too.
      Names are printed so a terminal shows them safely, as "ls -b" does: bytes that are
      not UTF-8 and control characters as \\xNN, a backslash as \\\\. PATH may be given
      the same way ("gvmconv cat" too).
    `,
    examples: [["Long listing of /etc", "$0 ls app.gvmi /etc -l"]],
  });

  static help: CommandHelp = { files: ["FILE"] };

  file = Option.String({ name: "FILE" });
  imagePath = Option.String({ name: "PATH", required: false });
  long = Option.Boolean("-l", false, { description: "long listing" });
  recursive = Option.Boolean("-R", false, { description: "list subdirectories recursively" });
  json = Option.Boolean("--json", false, { description: "print one JSON document (every directory listed)" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const { listImage, escapeName, unescapeName, decodeName } = await library();
      const listing = listImage(this.file, unescapeName(this.imagePath ?? "/"), {
        recursive: this.recursive,
        stat: this.long,
      });
      if (this.json) {
        // Names (and symlink targets) in the printed form, as the README says: a name that is
        // not UTF-8 would otherwise go out as lone-surrogate escapes no reader can map back.
        const directories = [];
        for await (const dir of listing) {
          directories.push({
            ...dir,
            path: escapeName(dir.path),
            entries: dir.entries.map((e) => {
              const named = { ...e, name: escapeName(e.name), path: escapeName(e.path) };
              if (e.stat === undefined) return named;
              const { targetBytes, ...stat } = e.stat;
              return {
                ...named,
                stat:
                  targetBytes === undefined ? stat : { ...stat, target: escapeName(decodeName(targetBytes)) },
              };
            }),
          });
        }
        stdout.write(
          `${JSON.stringify({ file: this.file, path: this.imagePath ?? "/", directories }, null, 2)}\n`,
        );
        return 0;
      }
      let first = true;
      for await (const dir of listing) {
        const out: string[] = [];
        if (this.recursive && dir.directory) out.push(`${first ? "" : "\n"}/${escapeName(dir.path)}:`);
        first = false;
        for (const e of dir.entries)
          out.push(this.long ? this.#line(escapeName(e.name), e.stat!, escapeName) : escapeName(e.name));
        if (out.length > 0) stdout.write(`${out.join("\n")}\n`);
      }
      return 0;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }

  #line(name: string, st: SquashfsStat, escape: (name: string) => string): string {
    if (!this.long) return name;
    const size = st.rdev ? `${st.rdev.major}, ${st.rdev.minor}` : String(st.size);
    const when = new Date(st.mtime * 1000).toISOString().slice(0, 16).replace("T", " ");
    const target = st.target !== undefined ? ` -> ${escape(st.target)}` : "";
    return `${modeString(st.mode)} ${st.nlink} ${st.uid} ${st.gid} ${size} ${when} ${name}${target}`;
  }
}

const TYPE_CHAR: Record<number, string> = {
  0o04: "d",
  0o10: "-",
  0o12: "l",
  0o06: "b",
  0o02: "c",
  0o01: "p",
  0o14: "s",
};

/** `drwxr-xr-x` from st_mode, with s/S/t/T for setuid, setgid and sticky as ls prints them. */
export function modeString(mode: number): string {
  const type = TYPE_CHAR[(mode >> 12) & 0o17] ?? "?";
  const rwx = (bits: number, special: boolean, ch: string): string =>
    (bits & 4 ? "r" : "-") +
    (bits & 2 ? "w" : "-") +
    (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? "x" : "-");
  return (
    type +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s") +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s") +
    rwx(mode & 7, (mode & 0o1000) !== 0, "t")
  );
}
