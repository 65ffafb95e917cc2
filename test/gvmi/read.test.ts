import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGvmi, runtimeIssues } from "../../src/gvmi/read.js";
import { encodeTrailer } from "../../src/gvmi/trailer.js";
import { GvmiTrailerError } from "../../src/gvmi/errors.js";

const enc = (s: string) => new TextEncoder().encode(s);

function fakeSquashfs(size: number, bytesUsed: number): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x73717368, true);
  v.setBigUint64(40, BigInt(bytesUsed), true);
  return b;
}

test("a well-formed image has no issues", () => {
  const file = Buffer.concat([
    fakeSquashfs(4096, 4000),
    encodeTrailer(enc('{"Volumes":{"/w":{}},"User":"1000:1000"}')),
  ]);
  const info = parseGvmi(file);
  assert.equal(info.squashfsBytesUsed, 4000);
  assert.deepEqual(info.issues, []);
});

test("truncated SquashFS, missing padding and non-numeric USER are reported", () => {
  const file = Buffer.concat([fakeSquashfs(5000, 6000), encodeTrailer(enc('{"User":"app"}'))]);
  const codes = parseGvmi(file).issues.map((i) => i.code);
  assert.deepEqual(codes.sort(), [
    "E_GVMI_SQUASHFS_TRUNCATED",
    "W_GVMI_NO_VOLUMES",
    "W_GVMI_UNPADDED",
    "W_GVMI_USER_NOT_NUMERIC",
  ]);
});

test("not SquashFS is an issue; not JSON or not an object is an error", () => {
  assert.deepEqual(
    parseGvmi(Buffer.concat([Buffer.alloc(200), encodeTrailer(enc('{"Volumes":{"/v":{}}}'))])).issues.map(
      (i) => i.code,
    ),
    ["E_GVMI_NOT_SQUASHFS"],
  );
  assert.throws(() => parseGvmi(encodeTrailer(enc("{not json"))), GvmiTrailerError);
  assert.throws(() => parseGvmi(encodeTrailer(enc("[1]"))), GvmiTrailerError);
});

test("fields serde would reject are E_GVMI_CONFIG_TYPE", () => {
  const codes = runtimeIssues({ Env: "A=1", Volumes: { "/v": { x: 1 } }, WorkingDir: 3 }).map((i) => i.code);
  assert.deepEqual(codes, ["E_GVMI_CONFIG_TYPE", "E_GVMI_CONFIG_TYPE", "E_GVMI_CONFIG_TYPE"]);
});
