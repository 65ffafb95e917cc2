import { test } from "node:test";
import assert from "node:assert/strict";
import { GvmconvError } from "../src/errors.js";

test("GvmconvError keeps its code and hint", () => {
  const err = new GvmconvError("E_X", "broken", { hint: "fix it" });
  assert.equal(err.code, "E_X");
  assert.equal(err.hint, "fix it");
  assert.equal(err.name, "GvmconvError");
});
