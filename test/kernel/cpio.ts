/**
 * A minimal cpio "newc" archive writer, enough for an initramfs (Linux
 * Documentation/driver-api/early-userspace/buffer-format.rst): regular files, directories and
 * symlinks, each with a 110-byte ASCII header, name and data padded to 4 bytes.
 */
export interface CpioMember {
  path: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  /** File bytes, or the symlink target. */
  data?: Uint8Array | string;
}

const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;

export function cpioNewc(members: CpioMember[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer) => {
    const nameBytes = Buffer.from(name + "\0");
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    const header = "070701" + fields.map((f) => f.toString(16).padStart(8, "0")).join("");
    parts.push(Buffer.from(header, "latin1"), nameBytes, pad(110 + nameBytes.length), data, pad(data.length));
  };
  for (const m of members) {
    const data = m.data === undefined ? Buffer.alloc(0) : Buffer.from(m.data);
    add(m.path, TYPE_BITS[m.type] | (m.mode & 0o7777), data);
  }
  add("TRAILER!!!", 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

function pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
