import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  checkSparseMap,
  collectPaxSparse00,
  decodeGnuSparseExtension,
  decodeGnuSparseHeader,
  expandSparse,
  HOLE_CHUNK_SIZE,
  MAX_SPARSE_SEGMENTS,
  parsePaxRecordList,
  parseSparseMapRecord,
  SparseMap10Parser,
  type SparseSegment,
} from "../../src/tar/index.js";

/** A 12-byte octal field as GNU tar writes it: 11 digits and a NUL. */
function oct(n: number): string {
  return n.toString(8).padStart(11, "0") + "\0";
}

test("an old GNU S header: four entries at 386, isextended at 482, realsize at 483", () => {
  // Bytes 386…494 of the header GNU tar 1.34 wrote (`tar --sparse --format=gnu`) for a 1200000-byte
  // file with data at 0, 299008 and 999424 (4096 bytes each).
  const block = Buffer.alloc(512);
  Buffer.from(
    "303030303030303030303000303030303030313030303000303030303131313030303000303030303030313030303000" +
      "303030303336343030303000303030303030313030303000303030303434343736303000303030303030303030303000" +
      "00303030303434343736303000",
    "hex",
  ).copy(block, 386);
  assert.deepEqual(decodeGnuSparseHeader(block), {
    segments: [seg(0, 4096), seg(299008, 4096), seg(999424, 4096), seg(1200000, 0)],
    isExtended: false,
    realSize: 1200000,
  });
  block[482] = 1;
  block.fill(0, 386 + 2 * 24, 482);
  const cut = decodeGnuSparseHeader(block);
  assert.deepEqual(cut.segments, [seg(0, 4096), seg(299008, 4096)], "the list ends at the first empty entry");
  assert.equal(cut.isExtended, true);
});

test("an extension block: 21 entries, isextended at 504; the list ends at the first empty entry", () => {
  const block = Buffer.alloc(512);
  for (let i = 0; i < 21; i++) block.write(oct(i * 8192) + oct(512), i * 24, "latin1");
  const full = decodeGnuSparseExtension(block);
  assert.equal(full.segments.length, 21);
  assert.deepEqual(full.segments[20], { offset: 20 * 8192, length: 512 });
  assert.equal(full.isExtended, false);
  block.fill(0, 3 * 24, 4 * 24);
  block[504] = 1;
  const cut = decodeGnuSparseExtension(block);
  assert.equal(cut.segments.length, 3);
  assert.equal(cut.isExtended, true);
});

test("PAX 0.1's map record and 0.0's repeated records, in order", () => {
  assert.deepEqual(parseSparseMapRecord("0,4096,299008,4096,1200000,0"), [
    { offset: 0, length: 4096 },
    { offset: 299008, length: 4096 },
    { offset: 1200000, length: 0 },
  ]);
  assert.throws(() => parseSparseMapRecord("0,4096,299008"), { code: "E_TAR_SPARSE_MAP" });
  assert.throws(() => parseSparseMapRecord("0,4x96"), { code: "E_TAR_SPARSE_MAP" });
  assert.throws(() => parseSparseMapRecord("0,99999999999999999"), { code: "E_TAR_SPARSE_MAP" });

  const pax = Buffer.from(
    "26 GNU.sparse.numblocks=2\n23 GNU.sparse.offset=0\n28 GNU.sparse.numbytes=4096\n" +
      "28 GNU.sparse.offset=299008\n25 GNU.sparse.numbytes=7\n",
  );
  assert.deepEqual(collectPaxSparse00(parsePaxRecordList(pax)), [
    { offset: 0, length: 4096 },
    { offset: 299008, length: 7 },
  ]);
  assert.equal(collectPaxSparse00(parsePaxRecordList(Buffer.from("12 path=abc\n"))), undefined);
  const unpaired = Buffer.from("23 GNU.sparse.offset=0\n23 GNU.sparse.offset=9\n");
  assert.throws(() => collectPaxSparse00(parsePaxRecordList(unpaired)), { code: "E_TAR_SPARSE_MAP" });
});

test("checkSparseMap refuses unsorted, overlapping, beyond-realsize maps, huge sizes and data that does not add up", () => {
  const ok = { realSize: 10000, segments: [seg(0, 10), seg(10, 5), seg(9000, 1000), seg(10000, 0)] };
  checkSparseMap(ok, 1015);
  const bad: Array<[string, { realSize: number; segments: SparseSegment[] }, number, RegExp]> = [
    ["unsorted", { realSize: 100, segments: [seg(50, 1), seg(0, 1)] }, 2, /unsorted or overlapping/],
    ["overlapping", { realSize: 100, segments: [seg(0, 10), seg(5, 10)] }, 20, /unsorted or overlapping/],
    ["beyond", { realSize: 100, segments: [seg(95, 10)] }, 10, /beyond the real size 100/],
    ["huge", { realSize: 2 ** 53, segments: [] }, 0, /2\^53-1/],
    [
      "sum",
      { realSize: 100, segments: [seg(0, 10)] },
      11,
      /describes 10 bytes of data but the member stores 11/,
    ],
  ];
  for (const [what, map, stored, message] of bad) {
    assert.throws(() => checkSparseMap(map, stored), { code: "E_TAR_SPARSE_MAP", message }, what);
  }
});

function seg(offset: number, length: number): SparseSegment {
  return { offset, length };
}

test("PAX 1.0's in-data map parses the same fed whole or a byte at a time, and ends at its padding", () => {
  const map = "3\n0\n4096\n299008\n4096\n1200000\n0\n";
  const data = Buffer.concat([Buffer.from(map), Buffer.alloc(512 - map.length), Buffer.from("DATA")]);
  const whole = new SparseMap10Parser(data.length);
  assert.equal(whole.push(data), 512);
  assert.equal(whole.mapLength, 512);
  const bytewise = new SparseMap10Parser(data.length);
  let used: number | undefined;
  let fed = 0;
  while (used === undefined) used = bytewise.push(data.subarray(fed, ++fed));
  assert.equal(fed, 512, "complete exactly at the block boundary");
  assert.deepEqual(bytewise.segments, whole.segments);
  assert.deepEqual(whole.segments, [seg(0, 4096), seg(299008, 4096), seg(1200000, 0)]);
});

test("PAX 1.0's map: a count beyond the bound, a stray byte, a long number and a truncation are errors", () => {
  const parse = (text: string, memberSize = 1 << 20): void => {
    const p = new SparseMap10Parser(memberSize);
    if (p.push(Buffer.from(text)) === undefined) throw p.truncated();
  };
  assert.throws(() => parse(`${MAX_SPARSE_SEGMENTS + 1}\n`), {
    code: "E_TAR_SPARSE_MAP",
    message: /more than 1000000/,
  });
  assert.throws(() => parse("1\n0\n-5\n"), { code: "E_TAR_SPARSE_MAP", message: /stray byte 0x2d/ });
  assert.throws(() => parse("1\n00000000000000001\n"), {
    code: "E_TAR_SPARSE_MAP",
    message: /more than 16 digits/,
  });
  assert.throws(() => parse("2\n0\n1\n"), { code: "E_TAR_SPARSE_MAP", message: /truncated/ });
  // A map that is the whole member (its padding would run past the end) is truncated too.
  assert.throws(() => parse("1\n0\n1\n", 6), { code: "E_TAR_SPARSE_MAP", message: /truncated/ });
});

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; largest: number }> {
  const parts: Buffer[] = [];
  let largest = 0;
  for await (const c of chunks) {
    parts.push(Buffer.from(c));
    largest = Math.max(largest, c.length);
  }
  return { bytes: Buffer.concat(parts), largest };
}

async function* pieces(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

test("expandSparse puts the segments in place with zeros between, whatever the stored chunking", async () => {
  const stored = Buffer.from("aaaabbbccccc");
  const segments = [seg(2, 4), seg(10, 3), seg(3 * HOLE_CHUNK_SIZE, 5)];
  const realSize = 3 * HOLE_CHUNK_SIZE + 100;
  const expected = Buffer.alloc(realSize);
  expected.write("aaaa", 2);
  expected.write("bbb", 10);
  expected.write("ccccc", 3 * HOLE_CHUNK_SIZE);
  for (const size of [1, 5, 100]) {
    const out = await collect(
      expandSparse({ format: "0.1", realSize, memberSize: 12, segments }, pieces(stored, size)),
    );
    assert.equal(out.bytes.length, realSize);
    assert.ok(out.bytes.equals(expected), `chunks of ${size}`);
    assert.ok(out.largest <= HOLE_CHUNK_SIZE, "no hole chunk larger than one block");
  }
});

test("expandSparse of format 1.0 reads the map from the data, then the data after its padding", async () => {
  const map = "2\n1000\n3\n5000\n2\n";
  const member = Buffer.concat([Buffer.from(map), Buffer.alloc(512 - map.length), Buffer.from("xyzuv")]);
  let seen: unknown;
  const out = await collect(
    expandSparse({ format: "1.0", realSize: 6000, memberSize: member.length }, pieces(member, 7), (m) => {
      seen = m;
    }),
  );
  const expected = Buffer.alloc(6000);
  expected.write("xyz", 1000);
  expected.write("uv", 5000);
  assert.equal(
    createHash("sha256").update(out.bytes).digest("hex"),
    createHash("sha256").update(expected).digest("hex"),
  );
  assert.deepEqual(seen, { realSize: 6000, segments: [seg(1000, 3), seg(5000, 2)] });
});

test("expandSparse refuses a bad map before yielding anything, and a short data stream", async () => {
  const yielded: number[] = [];
  const run = async (segments: SparseSegment[], stored: Buffer, memberSize: number): Promise<void> => {
    for await (const c of expandSparse(
      { format: "0.1", realSize: 100, memberSize, segments },
      pieces(stored, 4),
    )) {
      yielded.push(c.length);
    }
  };
  await assert.rejects(run([seg(0, 10), seg(5, 1)], Buffer.alloc(11), 11), { code: "E_TAR_SPARSE_MAP" });
  assert.deepEqual(yielded, []);
  await assert.rejects(run([seg(0, 10)], Buffer.alloc(6), 10), {
    code: "E_TAR_FORMAT",
    message: /4 bytes early/,
  });
});
