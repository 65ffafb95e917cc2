import { test } from "node:test";
import assert from "node:assert/strict";
import { GvmconvError } from "../src/errors.js";
import { rememberBasicCredentials, rememberSecret, redactSecrets } from "../src/redact.js";
import { RegistryError } from "../src/oci/errors.js";

test("a remembered secret is replaced wherever it appears, also URL- and JSON-escaped", () => {
  const secret = 'pä ss"wörd/1';
  assert.notEqual(redactSecrets(`x ${secret} y`), "x *** y", "not known yet");
  rememberSecret(secret);
  assert.equal(redactSecrets(`x ${secret} y`), "x *** y");
  assert.equal(redactSecrets(`/echo/${encodeURIComponent(secret)}`), "/echo/***");
  assert.equal(redactSecrets(JSON.stringify({ m: `got ${secret}` })), '{"m":"got ***"}');
});

test("Basic credentials: the password and the header's base64 are both remembered", () => {
  const b64 = rememberBasicCredentials("carol", "hunter2-xyz");
  assert.equal(b64, Buffer.from("carol:hunter2-xyz").toString("base64"));
  assert.equal(redactSecrets(`you sent ${b64}, i.e. carol:hunter2-xyz`), "you sent ***, i.e. carol:***");
});

test("patterns catch credentials never seen", () => {
  const cases: [string, string][] = [
    ["Authorization: Bearer abc.def-ghi", "Authorization: ***"],
    ['{"authorization":"Basic Zm9vOmJhcg=="}', '{"authorization":"***"}'],
    ["sent Bearer eyJhbGciOi.x.y to it", "sent Bearer *** to it"],
    ["grant_type=password&password=letmein&x=1", "grant_type=password&password=***&x=1"],
    ['{"token":"t0k3n","expires_in":60}', '{"token":"***","expires_in":60}'],
    ["refresh_token=abcd", "refresh_token=***"],
    ["https://bob:pw123@example.com/v2/", "https://bob:***@example.com/v2/"],
  ];
  for (const [input, want] of cases) assert.equal(redactSecrets(input), want, input);
});

test("ordinary messages are left alone", () => {
  for (const text of [
    "the token server 127.0.0.1:5000 sent no token",
    "check REGISTRY_USER/REGISTRY_TOKEN or run `gvmconv login`",
    "set GVMCONV_REGISTRY_USER and GVMCONV_REGISTRY_PASSWORD",
    "blob sha256:0123abcd is 12 bytes, its descriptor says 13",
  ]) {
    assert.equal(redactSecrets(text), text);
  }
});

test("every GvmconvError's message, hint and stack, and a registry error's details, are redacted", () => {
  rememberSecret("s3cr3t-token-value");
  const err = new GvmconvError("E_OCI_HTTP", "server said s3cr3t-token-value", {
    hint: "not s3cr3t-token-value",
  });
  assert.equal(err.message, "server said ***");
  assert.equal(err.hint, "not ***");
  assert.ok(!(err.stack ?? "").includes("s3cr3t-token-value"));
  const reg = new RegistryError("E_OCI_HTTP", "x", {
    statusCode: 400,
    url: "http://u:pw99@h/v2/",
    details: [{ code: "DENIED", message: "echo s3cr3t-token-value" }],
  });
  assert.deepEqual(reg.details, [{ code: "DENIED", message: "echo ***" }]);
  assert.equal(reg.url, "http://u:***@h/v2/");
});
