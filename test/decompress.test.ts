import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { markDecompressed, openDecompressed, sniffCompression } from "../src/decompress.js";
import { decompressLayer } from "../src/oci/layer-stream.js";
import { openEntrySource, readTar } from "../src/layers/index.js";
import type { Entry } from "../src/squashfs/index.js";
import { packTar } from "./support/tar.js";
import { outcomeWithin } from "./support/outcome.js";

const haveZstd = spawnSync("zstd", ["--version"]).status === 0;
const zstd = (data: Buffer): Buffer => spawnSync("zstd", ["-q", "-c"], { input: data }).stdout;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function paths(entries: AsyncIterable<Entry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of entries) {
    out.push(e.path);
    if (e.type === "file") for await (const _ of e.content as AsyncIterable<Uint8Array>) void _;
  }
  return out;
}

test("magic bytes: gzip 1f 8b, zstd 28 b5 2f fd, anything else plain", () => {
  assert.equal(sniffCompression(Buffer.from("1f8b0800", "hex")), "gzip");
  assert.equal(sniffCompression(Buffer.from("28b52ffd", "hex")), "zstd");
  assert.equal(sniffCompression(Buffer.from("28b52f", "hex")), "none");
  assert.equal(sniffCompression(Buffer.from("ustar")), "none");
  assert.equal(sniffCompression(new Uint8Array(0)), "none");
});

test("plain, gzip and zstd open to the same bytes", { skip: !haveZstd && "zstd not installed" }, async () => {
  const data = Buffer.from("hello, ".repeat(1000));
  for (const [want, bytes] of [
    ["none", data],
    ["gzip", gzipSync(data)],
    ["zstd", zstd(data)],
  ] as const) {
    const d = await openDecompressed(Readable.from([bytes]));
    assert.equal(d.compression, want);
    assert.deepEqual(await readAll(d.stream), data);
  }
});

test("a stream destroyed before its first bytes fails the sniff instead of leaving it waiting", async () => {
  const input = new Readable({ read() {} });
  const opened = openDecompressed(input);
  input.destroy();
  const outcome = await outcomeWithin(
    opened,
    2000,
    () => "opened",
    (err) => (err as NodeJS.ErrnoException).code ?? String(err),
  );
  assert.equal(outcome, "ERR_STREAM_PREMATURE_CLOSE");
  // With an error, that error, as before.
  const failing = new Readable({ read() {} });
  const opening = openDecompressed(failing);
  failing.destroy(new Error("boom"));
  await assert.rejects(opening, /boom/);
});

test("a stream marked as decompressed is taken as it is, not sniffed again", async () => {
  const gz = gzipSync(Buffer.from("inner"));
  const marked = markDecompressed(Readable.from([gz]));
  const d = await openDecompressed(marked);
  assert.equal(d.compression, "none");
  assert.equal(d.stream, marked);
  assert.deepEqual(await readAll(d.stream), gz);
});

test("a layer is sniffed once: readTar does not decompress decompressLayer's output again", async () => {
  const tar = await packTar([{ header: { name: "a.txt" }, body: "hello" }]);
  assert.deepEqual(await paths(readTar(await decompressLayer(Readable.from([gzipSync(tar)])))), ["a.txt"]);
  // A layer gzipped twice decompresses once, to a gzip stream, which is not a tar: a second
  // sniff would have read it.
  const twice = await decompressLayer(Readable.from([gzipSync(gzipSync(tar))]));
  await assert.rejects(paths(readTar(twice)), { code: "E_TAR_FORMAT" });
});

test(
  "the squashfs command's tar input goes through the same sniff: zstd tars are read",
  { skip: !haveZstd && "zstd not installed" },
  async () => {
    const tar = await packTar([{ header: { name: "z.txt" }, body: "zstd" }]);
    assert.deepEqual(await paths(await openEntrySource("-", { stdin: Readable.from([zstd(tar)]) })), [
      "z.txt",
    ]);
    const dir = await mkdtemp(join(tmpdir(), "gvmconv-decompress-"));
    try {
      const file = join(dir, "rootfs.tar.zst");
      await writeFile(file, zstd(tar));
      assert.deepEqual(await paths(await openEntrySource(file)), ["z.txt"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test(
  "real zstd streams: levels 3 and 19 (windows up to 8 MiB) decode; --ultra -20, -22 and --long are refused with the bound named",
  { skip: !haveZstd && "zstd not installed" },
  async () => {
    // From a pipe zstd does not know the size, so each level declares its full window.
    const data = Buffer.from("a layer's bytes, ".repeat(20000));
    const compress = (args: string[]): Buffer =>
      spawnSync("zstd", ["-q", "-c", ...args], { input: data }).stdout;
    for (const args of [["-3"], ["-19"]]) {
      const d = await openDecompressed(Readable.from([compress(args)]));
      assert.deepEqual(await readAll(d.stream), data, args.join(" "));
    }
    for (const [args, window] of [
      [["--ultra", "-20"], "32 MiB"],
      [["--ultra", "-22"], "128 MiB"],
      [["--long=27"], "128 MiB"],
    ] as const) {
      const d = await openDecompressed(Readable.from([compress([...args])]));
      await assert.rejects(readAll(d.stream), (err: Error & { code?: string }) => {
        assert.equal(err.code, "E_TAR_COMPRESSION_LIMIT", args.join(" "));
        assert.equal(err.message, `a zstd frame declares a ${window} window; at most 8 MiB is decoded`);
        return true;
      });
    }
  },
);
