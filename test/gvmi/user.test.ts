import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveUser } from "../../src/gvmi/user.js";
import { GvmiUserResolutionError } from "../../src/gvmi/errors.js";

const passwd =
  "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\napp:x:1000:1001::/home/app:/bin/sh\n";
const group = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

test("names resolve through the image's passwd and group", () => {
  assert.equal(resolveUser("app", { passwd, group }), "1000:1001");
  assert.equal(resolveUser("app:staff", { passwd, group }), "1000:50");
  assert.equal(resolveUser("root", { passwd, group }), "0:0");
  assert.equal(resolveUser("app:7", { passwd, group: Buffer.from(group) }), "1000:7");
});

test("numeric uids need no passwd entry (gid 0), but take the entry's gid when there is one", () => {
  assert.equal(resolveUser("4242", {}), "4242:0");
  assert.equal(resolveUser("1000", { passwd }), "1000:1001");
  assert.equal(resolveUser("1000:1000", {}), "1000:1000");
});

test("empty USER means the runtime default", () => {
  assert.equal(resolveUser("", { passwd }), undefined);
});

test("unknown names are typed errors", () => {
  assert.throws(() => resolveUser("nobody", { passwd, group }), GvmiUserResolutionError);
  assert.throws(() => resolveUser("app:wheel", { passwd, group }), GvmiUserResolutionError);
  assert.throws(() => resolveUser("app", {}), /no \/etc\/passwd/);
});
