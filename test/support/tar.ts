/** Building small tars in tests, over tar-stream's packer. */
import { pack, type Header } from "tar-stream";

/** One archive member: its header (only `name` required) and, for files, its data. */
export interface Member {
  header: Partial<Header> & { name: string };
  body?: Buffer | string;
}

/** The tar of `members`, in order. */
export async function packTar(members: Member[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const m of members) {
    await new Promise<void>((resolve, reject) =>
      p.entry(m.header, m.body ?? "", (err) => (err ? reject(err) : resolve())),
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * A raw 512-byte tar header, for what tar-stream will not write (unknown types, GNU sparse
 * headers, hostile fields): `fields` are written at their offsets, then the checksum.
 */
export function rawTarHeader(
  name: string,
  type: string,
  size: number,
  fields: Array<[number, string]> = [],
  gnu = false,
): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, "utf8");
  h.write("0000644\0", 100, "latin1");
  h.write("0000000\0", 108, "latin1");
  h.write("0000000\0", 116, "latin1");
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, "latin1");
  h.write("14000000000\0", 136, "latin1");
  h.write(type, 156, "latin1");
  h.write(gnu ? "ustar  \0" : "ustar\x0000", 257, "latin1");
  for (const [offset, text] of fields) h.write(text, offset, "latin1");
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return h;
}
