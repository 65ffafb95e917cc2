import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_IDS } from "../../../src/squashfs/format/id-table.js";
import { IdTable } from "../../../src/squashfs/writer/id-table-writer.js";
import { SquashfsTooManyIdsError } from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

test("ids get indices in first-use order, shared by uid and gid", () => {
  const t = new IdTable();
  assert.deepEqual([t.indexOf(0), t.indexOf(1000), t.indexOf(0), t.indexOf(100)], [0, 1, 0, 2]);
  assert.deepEqual(t.ids, [0, 1000, 100]);
  assert.equal(hex(t.records()[1]!), "e8030000");
});

test("more than 65535 distinct ids is a typed error", () => {
  const t = new IdTable();
  for (let i = 0; i < MAX_IDS; i++) t.indexOf(i);
  assert.throws(
    () => t.indexOf(MAX_IDS),
    (e: unknown) => e instanceof SquashfsTooManyIdsError && e.code === "E_SQUASHFS_TOO_MANY_IDS",
  );
});
