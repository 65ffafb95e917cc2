/**
 * Absurd declared sizes: base-256 up to 2^95, pax `size=` of 10^30, negative and malformed
 * numbers, sizes past 2^53, sparse real sizes of petabytes. Each is one coded error, found at
 * the header, before an entry is handed on, a byte allocated for it, or its data waited for.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  MAX_SPARSE_EXPANSION,
  SparseExpansionBudget,
  decodeNumber,
  memberSize,
  paxSize,
} from "../../src/tar/index.js";
import { readTarRecords } from "../../src/layers/index.js";
import { TarIndex } from "../../src/oci/tar-index.js";
import { buildSquashfs } from "../../src/index.js";
import { TAR_END, base256SizeHeader, paxMember } from "../support/hostile-streams.js";
import { rawTarHeader } from "../support/tar.js";

const records = (pairs: Array<[string, string]>): Map<string, Uint8Array> =>
  new Map(pairs.map(([k, v]) => [k, Buffer.from(v)]));

test("paxSize: decimal digits only; negative, fractional, exponent or trailing junk is E_TAR_FORMAT", () => {
  assert.equal(paxSize(records([["size", "12"]])), 12);
  assert.equal(paxSize(records([])), undefined);
  for (const bad of ["-5", "12abc", "1e3", "1.5", " 7", "0x10"]) {
    assert.throws(() => paxSize(records([["size", bad]])), { code: "E_TAR_FORMAT" }, bad);
  }
});

test("paxSize: 10^30 and 2^53 are E_TAR_TOO_LARGE, 2^53-1 is the largest size", () => {
  assert.throws(() => paxSize(records([["size", "1" + "0".repeat(30)]])), {
    code: "E_TAR_TOO_LARGE",
    message: /declares 1000000000000000000000000000000 bytes, past 2\^53-1/,
  });
  assert.throws(() => paxSize(records([["size", String(2 ** 53)]])), { code: "E_TAR_TOO_LARGE" });
  assert.equal(paxSize(records([["size", String(2 ** 53 - 1)]])), 2 ** 53 - 1);
});

test("memberSize: a header size the parser read as a float (base-256 up to 2^95) is refused, not rounded", () => {
  assert.equal(memberSize(512, new Map()), 512);
  assert.throws(() => memberSize(2 ** 95, new Map()), { code: "E_TAR_TOO_LARGE" });
  assert.throws(() => memberSize(2 ** 53, new Map()), { code: "E_TAR_TOO_LARGE" });
  assert.throws(() => memberSize(Number.NaN, new Map()), { code: "E_TAR_TOO_LARGE" });
  // The parser skips by its own reading of the record: if ours differs, refuse.
  assert.throws(() => memberSize(12, records([["size", "13"]])), { code: "E_TAR_FORMAT" });
});

test("decodeNumber: base-256 fields past 2^53-1 in either direction are refused (the shared codec)", () => {
  const field = (hex: string): Uint8Array => Buffer.from(hex, "hex");
  assert.throws(() => decodeNumber(field("80" + "ff".repeat(11))), {
    code: "E_TAR_FORMAT",
    message: /2\^53-1/,
  });
  assert.throws(() => decodeNumber(field("ff80" + "00".repeat(10))), { code: "E_TAR_FORMAT" });
  assert.equal(decodeNumber(field("80000000001fffffffffffff")), 2 ** 53 - 1);
});

/** What reading `tar` gives: its entry paths, or the error code; and how long it took. */
async function read(tar: Buffer): Promise<{ paths: string[]; code?: string; ms: number }> {
  const started = Date.now();
  const paths: string[] = [];
  try {
    for await (const r of readTarRecords(Readable.from([tar]))) paths.push(r.entry.path);
    return { paths, ms: Date.now() - started };
  } catch (err) {
    return { paths, code: (err as { code?: string }).code, ms: Date.now() - started };
  }
}

const file = rawTarHeader("f", "0", 0);
const HOSTILE: Record<string, { tar: Buffer; code: string }> = {
  "base-256 size of 2^88 - 1 (the largest after the 0x80 marker)": {
    tar: Buffer.concat([base256SizeHeader("f", 2n ** 88n - 1n), TAR_END]),
    code: "E_TAR_TOO_LARGE",
  },
  "base-256 size of 2^95 - 1 (marker bits used as value: reads as negative)": {
    tar: Buffer.concat([base256SizeHeader("f", 2n ** 95n - 1n), TAR_END]),
    code: "E_TAR_FORMAT",
  },
  "base-256 size of 2^53 + 1 (rounds to a float)": {
    tar: Buffer.concat([base256SizeHeader("f", 2n ** 53n + 1n), TAR_END]),
    code: "E_TAR_TOO_LARGE",
  },
  "negative base-256 size": {
    tar: Buffer.concat([base256SizeHeader("f", -512n), TAR_END]),
    code: "E_TAR_FORMAT",
  },
  "pax size=10^30": {
    tar: Buffer.concat([paxMember([["size", "1" + "0".repeat(30)]]), file, TAR_END]),
    code: "E_TAR_TOO_LARGE",
  },
  "pax size=-5": { tar: Buffer.concat([paxMember([["size", "-5"]]), file, TAR_END]), code: "E_TAR_FORMAT" },
  "pax size=12abc (tar-stream would take 12)": {
    tar: Buffer.concat([paxMember([["size", "12abc"]]), file, Buffer.alloc(512), TAR_END]),
    code: "E_TAR_FORMAT",
  },
  "pax size=2^53+2": {
    tar: Buffer.concat([paxMember([["size", String(2 ** 53 + 2)]]), file, TAR_END]),
    code: "E_TAR_TOO_LARGE",
  },
  "a pax header member of 16 MiB": {
    tar: Buffer.concat([rawTarHeader("PaxHeaders/x", "x", 16 * 1024 * 1024), TAR_END]),
    code: "E_TAR_FORMAT",
  },
  "sparse 1.0 realsize of 2^52 (4 PiB of holes)": {
    tar: Buffer.concat([
      paxMember([
        ["GNU.sparse.major", "1"],
        ["GNU.sparse.minor", "0"],
        ["GNU.sparse.name", "s"],
        ["GNU.sparse.realsize", String(2 ** 52)],
      ]),
      rawTarHeader("GNUSparseFile.1/s", "0", 512),
      Buffer.from("1\n0\n0\n".padEnd(512, "\0")),
      TAR_END,
    ]),
    code: "E_TAR_TOO_LARGE",
  },
  "sparse 1.0 realsize of 10^17 (past 2^53)": {
    tar: Buffer.concat([
      paxMember([
        ["GNU.sparse.major", "1"],
        ["GNU.sparse.minor", "0"],
        ["GNU.sparse.realsize", "1" + "0".repeat(17)],
      ]),
      rawTarHeader("GNUSparseFile.1/s", "0", 512),
      Buffer.alloc(512),
      TAR_END,
    ]),
    code: "E_TAR_SPARSE_MAP",
  },
};

for (const [name, { tar, code }] of Object.entries(HOSTILE)) {
  test(`${name}: ${code} at the header, nothing handed on, within a second`, async () => {
    const r = await read(tar);
    assert.equal(r.code, code);
    assert.deepEqual(r.paths, []);
    assert.ok(r.ms < 1000, `took ${r.ms} ms`);
  });
}

test("sparse holes are summed over the tar: the bound is 256 GiB, the member that passes it is refused", async () => {
  assert.equal(MAX_SPARSE_EXPANSION, 256 * 1024 ** 3);
  const sparse = (name: string, realSize: number): Buffer =>
    Buffer.concat([
      paxMember([
        ["GNU.sparse.major", "1"],
        ["GNU.sparse.minor", "0"],
        ["GNU.sparse.name", name],
        ["GNU.sparse.realsize", String(realSize)],
      ]),
      rawTarHeader(`GNUSparseFile.1/${name}`, "0", 512),
      Buffer.from("1\n0\n0\n".padEnd(512, "\0")),
    ]);
  const r = await read(
    Buffer.concat([
      sparse("a", 100 * 1024 ** 3),
      sparse("b", 100 * 1024 ** 3),
      sparse("c", 100 * 1024 ** 3),
      TAR_END,
    ]),
  );
  assert.deepEqual(r.paths, ["a", "b"]);
  assert.equal(r.code, "E_TAR_TOO_LARGE");
  const budget = new SparseExpansionBudget(1000);
  budget.add("x", 1500, 600);
  assert.throws(() => budget.add("y", 200, 50), { code: "E_TAR_TOO_LARGE", message: /'y' claims 200 bytes/ });
});

test("gvmconv squashfs on a tar declaring 10^30 bytes: E_TAR_TOO_LARGE, no output left behind", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-size-bounds-"));
  try {
    const input = join(dir, "in.tar");
    await writeFile(input, Buffer.concat([paxMember([["size", "1" + "0".repeat(30)]]), file, TAR_END]));
    await assert.rejects(buildSquashfs(input, join(dir, "out.sqfs")), { code: "E_TAR_TOO_LARGE" });
    assert.deepEqual(await readdir(dir), ["in.tar"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an archive source's index (docker-archive, oci-archive) refuses a malformed pax size instead of ignoring it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-size-bounds-"));
  try {
    const path = join(dir, "archive.tar");
    await writeFile(path, Buffer.concat([paxMember([["size", "12abc"]]), file, Buffer.alloc(512), TAR_END]));
    await assert.rejects(TarIndex.build(path), { code: "E_OCI_LOCAL_SOURCE", message: /not a decimal size/ });
    await writeFile(path, Buffer.concat([paxMember([["size", "9".repeat(40)]]), file, TAR_END]));
    await assert.rejects(TarIndex.build(path), { code: "E_OCI_LOCAL_SOURCE", message: /past 2\^53-1/ });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
