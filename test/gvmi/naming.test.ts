import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultOutputName } from "../../src/gvmi/naming.js";
import { GvmiImageIdError } from "../../src/gvmi/errors.js";

const imageId = "sha256:779758b432" + "0".repeat(54);

test("repository slashes become dashes, then tag and 10 hex of the image id", () => {
  assert.equal(
    defaultOutputName({ repository: "golem/examples-blender", tag: "latest", imageId }),
    "golem-examples-blender-latest-779758b432.gvmi",
  );
  assert.equal(
    defaultOutputName({ repository: "alpine", tag: "3.20", imageId }),
    "alpine-3.20-779758b432.gvmi",
  );
});

test("characters no file name may hold become dashes", () => {
  assert.equal(
    defaultOutputName({ repository: "localhost:5000/a/b", tag: "t", imageId }),
    "localhost-5000-a-b-t-779758b432.gvmi",
  );
});

test("a non-sha256 image id is refused", () => {
  assert.throws(
    () => defaultOutputName({ repository: "a", tag: "b", imageId: "779758b432" }),
    GvmiImageIdError,
  );
});
