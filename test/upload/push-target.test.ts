import { test } from "node:test";
import assert from "node:assert/strict";
import { formatPushTarget, parsePushTarget } from "../../src/upload/push-target.js";
import { PushTargetError } from "../../src/upload/errors.js";

test("user/repository:tag, with latest by default", () => {
  assert.deepEqual(parsePushTarget("golem/blender:1.0"), {
    user: "golem",
    repository: "blender",
    tag: "1.0",
  });
  assert.deepEqual(parsePushTarget("blender"), { user: undefined, repository: "blender", tag: "latest" });
  assert.equal(formatPushTarget(parsePushTarget("a/b")), "a/b:latest");
});

test("names the incumbent refuses are refused", () => {
  for (const bad of ["a/b/c", "a:b:c", ":a", "/a", "a b", "a/b:", "---", "a@b"]) {
    assert.throws(() => parsePushTarget(bad), PushTargetError, bad);
  }
});
