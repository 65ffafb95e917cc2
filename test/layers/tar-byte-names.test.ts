/**
 * The tar reader keeps member names as bytes wherever a tar stores them: the ustar name field,
 * GNU `L`/`K` long names, and PAX `path`/`linkpath` records (UTF-8 by the standard, any bytes
 * under `hdrcharset=BINARY`). Hand-built archives, so each place is exercised alone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { readTar } from "../../src/layers/index.js";
import { decodeName } from "../../src/byte-names.js";
import type { Entry } from "../../src/squashfs/index.js";
import { rawTarHeader } from "../support/tar.js";

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");
const pad = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

/** A raw header whose name field holds `name`'s bytes exactly (rawTarHeader writes UTF-8). */
function header(name: Buffer, type: string, size: number, linkname?: Buffer): Buffer {
  const fields: Array<[number, string]> = [[0, name.toString("latin1")]];
  if (linkname) fields.push([157, linkname.toString("latin1")]);
  return rawTarHeader("", type, size, fields);
}

function paxRecords(records: Array<[string, Buffer]>): Buffer {
  const parts = records.map(([key, value]) => {
    const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  });
  return Buffer.concat(parts);
}

async function entries(archive: Buffer): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of readTar(Readable.from([archive]))) {
    if (e.type === "file" && !(e.content instanceof Uint8Array)) for await (const _ of e.content);
    out.push(e);
  }
  return out;
}

test("a ustar name of Latin-1 bytes, and its symlink target, are kept as bytes", async () => {
  const archive = Buffer.concat([
    header(latin1("caf\xe9"), "0", 0),
    header(latin1("caf\xe8"), "0", 0),
    header(latin1("l\xff"), "2", 0, latin1("caf\xe9")),
    Buffer.alloc(1024),
  ]);
  const got = await entries(archive);
  assert.deepEqual(
    got.map((e) => e.path),
    [decodeName(latin1("caf\xe9")), decodeName(latin1("caf\xe8")), decodeName(latin1("l\xff"))],
  );
  assert.notEqual(got[0]!.path, got[1]!.path);
  assert.equal((got[2] as Entry & { target: string }).target, decodeName(latin1("caf\xe9")));
});

test("GNU long names (L) and long link names (K) of arbitrary bytes are kept as bytes", async () => {
  const longName = latin1("dir/" + "n".repeat(150) + "\x80\xfe");
  const longLink = latin1("t/" + "k".repeat(150) + "\xe9");
  const archive = Buffer.concat([
    rawTarHeader("././@LongLink", "L", longName.length + 1, [], true),
    pad(Buffer.concat([longName, Buffer.of(0)])),
    rawTarHeader("././@LongLink", "K", longLink.length + 1, [], true),
    pad(Buffer.concat([longLink, Buffer.of(0)])),
    rawTarHeader("short", "2", 0, [], true),
    Buffer.alloc(1024),
  ]);
  const [entry] = await entries(archive);
  assert.equal(entry!.path, decodeName(longName));
  assert.equal((entry as Entry & { target: string }).target, decodeName(longLink));
});

test("PAX path and linkpath records: raw bytes under hdrcharset=BINARY, and UTF-8 as UTF-8", async () => {
  const binary = paxRecords([
    ["hdrcharset", Buffer.from("BINARY")],
    ["path", latin1("p\xe9")],
  ]);
  const utf8 = paxRecords([["path", Buffer.from("pé", "utf8")]]);
  const link = paxRecords([
    ["hdrcharset", Buffer.from("BINARY")],
    ["linkpath", latin1("p\xe9")],
  ]);
  const archive = Buffer.concat([
    rawTarHeader("PaxHeaders/x", "x", binary.length),
    pad(binary),
    rawTarHeader("ignored-name", "0", 0),
    rawTarHeader("PaxHeaders/y", "x", utf8.length),
    pad(utf8),
    rawTarHeader("ignored-too", "0", 0),
    rawTarHeader("PaxHeaders/z", "x", link.length),
    pad(link),
    rawTarHeader("hard", "1", 0, [[157, "ignored-target"]]),
    Buffer.alloc(1024),
  ]);
  const got = await entries(archive);
  assert.deepEqual(
    got.map((e) => e.path),
    [decodeName(latin1("p\xe9")), "pé", "hard"],
  );
  assert.equal((got[2] as Entry & { target: string }).target, decodeName(latin1("p\xe9")));
});
