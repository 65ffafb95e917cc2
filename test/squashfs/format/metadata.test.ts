import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMetadataHeader,
  encodeMetadataHeader,
  packRef,
  unpackRef,
} from "../../../src/squashfs/format/metadata.js";
import { SquashfsCorruptError, SquashfsInternalError } from "../../../src/squashfs/errors.js";
import { fromHex, hex } from "../struct-helpers.js";

test("metadata header: size with bit 15 for uncompressed", () => {
  assert.equal(hex(encodeMetadataHeader(8192, true)), "00a0");
  assert.equal(hex(encodeMetadataHeader(0x123, false)), "2301");
  assert.deepEqual(decodeMetadataHeader(encodeMetadataHeader(8192, true)), {
    storedSize: 8192,
    uncompressed: true,
  });
  // Asked to frame a block that cannot exist: the writer's bug. Read from an image: corruption.
  assert.throws(() => encodeMetadataHeader(8193, true), SquashfsInternalError);
  assert.throws(() => decodeMetadataHeader(fromHex("0080")), SquashfsCorruptError);
  assert.throws(() => decodeMetadataHeader(fromHex("0120")), SquashfsCorruptError);
});

test("references pack as block << 16 | offset", () => {
  assert.equal(packRef({ block: 0x12345, offset: 0x1ff }), 0x1_2345_01ff);
  assert.deepEqual(unpackRef(0x1_2345_01ff), { block: 0x12345, offset: 0x1ff });
});
