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
