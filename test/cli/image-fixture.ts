/** A small .gvmi (and its plain SquashFS) built with our writer and src/gvmi, for the CLI tests. */
import { PassThrough, Readable } from "node:stream";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSquashfs, type Entry } from "../../src/squashfs/index.js";
import { appendTrailer, type ContainerConfig } from "../../src/gvmi/index.js";
import { createCli } from "../../src/cli/main.js";

export interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export async function run(argv: string[]): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  let err = "";
  stdout.on("data", (d: Buffer) => out.push(d));
  stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await createCli().run(argv, { stdin: Readable.from([]), stdout, stderr, env: {} });
  return { code, stdout: Buffer.concat(out), stderr: err };
}

/** Bytes 0 … 255 repeated: binary content that would break a text round trip. */
export const BINARY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff));

export const CONFIG = {
  Image: "sha256:" + "ab".repeat(32),
  Cmd: ["/bin/sh"],
  Env: ["A=1"],
  Volumes: { "/data": {} },
};

export interface Fixture {
  dir: string;
  gvmi: string;
  squashfs: string;
  sha3: string;
}

export async function makeFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-cli-image-"));
  const attrs = (mode: number, uid = 0, gid = 0) => ({ mode, uid, gid, mtime: 1_700_000_000 });
  const entries: Entry[] = [
    { type: "directory", path: "etc", attrs: attrs(0o755) },
    {
      type: "file",
      path: "etc/hostname",
      attrs: attrs(0o644, 1000, 100),
      size: 6,
      content: Buffer.from("golem\n"),
    },
    { type: "file", path: "bin/blob", attrs: attrs(0o755), size: BINARY.length, content: BINARY },
    { type: "symlink", path: "bin/sh", attrs: attrs(0o777), target: "blob" },
    { type: "char-device", path: "dev/null", attrs: attrs(0o666), major: 1, minor: 3 },
    { type: "directory", path: "data", attrs: attrs(0o1777) },
  ];
  const squashfs = join(dir, "image.sqfs");
  await writeSquashfs(entries, squashfs, { workers: 0 });
  const gvmi = join(dir, "image.gvmi");
  copyFileSync(squashfs, gvmi);
  const { sha3 } = await appendTrailer(gvmi, CONFIG as unknown as ContainerConfig);
  return { dir, gvmi, squashfs, sha3 };
}
