/**
 * `docker-credential-<name> get` as Docker's credential helpers speak it (docker/docker-credential-
 * helpers: the server URL on stdin, `{"ServerURL","Username","Secret"}` on stdout, "credentials not
 * found in native keychain" and a non-zero exit for an unknown server), with small shell helpers
 * on a PATH of the test's own: an answer, an identity token, an unknown server, no such helper, a
 * helper that fails, and one that never answers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCredentialHelper } from "../../src/oci/credentials.js";
import { CredentialHelperError } from "../../src/oci/errors.js";

/** A directory of `docker-credential-<name>` shell scripts, and an env whose PATH finds them. */
async function helpers(scripts: Record<string, string>): Promise<{ env: NodeJS.ProcessEnv; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-cred-helper-"));
  for (const [name, body] of Object.entries(scripts)) {
    const file = join(dir, `docker-credential-${name}`);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
  }
  return { env: { PATH: `${dir}:/usr/bin:/bin` }, dir };
}

test("a helper's answer, an identity token, an unknown server and a missing helper", async () => {
  const { env, dir } = await helpers({
    // Answers only for the server it is asked about on stdin.
    store: [
      "read server",
      'if [ "$1" != get ]; then exit 2; fi',
      'if [ "$server" = "registry.example" ]; then',
      '  printf \'{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}\' "$server"',
      "else",
      "  echo 'credentials not found in native keychain'; exit 1",
      "fi",
    ].join("\n"),
    token: `read server; printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-me"}' "$server"`,
  });
  try {
    assert.deepEqual(await runCredentialHelper("store", "registry.example", env), {
      username: "alice",
      password: "s3cret",
    });
    assert.equal(await runCredentialHelper("store", "other.example", env), undefined, "unknown server");
    assert.deepEqual(await runCredentialHelper("token", "registry.example", env), {
      username: "",
      password: "",
      identityToken: "refresh-me",
    });
    assert.equal(await runCredentialHelper("absent", "registry.example", env), undefined, "not installed");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a helper that fails, or prints what is not JSON, is one E_OCI_CREDENTIAL_HELPER error", async () => {
  const { env, dir } = await helpers({
    broken: "read server; echo 'keychain is locked' >&2; exit 3",
    chatty: "read server; echo 'hello'",
  });
  try {
    await assert.rejects(runCredentialHelper("broken", "registry.example", env), (err: unknown) => {
      assert.ok(err instanceof CredentialHelperError);
      assert.equal(err.code, "E_OCI_CREDENTIAL_HELPER");
      assert.match(err.message, /^docker-credential-broken: exited with 3: keychain is locked$/);
      return true;
    });
    await assert.rejects(runCredentialHelper("chatty", "registry.example", env), /not JSON/);
    await assert.rejects(runCredentialHelper("../sh", "registry.example", env), /invalid helper name/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  "a helper that never answers is killed after the timeout, with a hint, not waited for",
  { timeout: 30_000 },
  async () => {
    // As one waiting for a pinentry nobody sees: it reads the request, then sleeps.
    const { env, dir } = await helpers({ stuck: "read server; exec sleep 600" });
    try {
      const started = performance.now();
      await assert.rejects(runCredentialHelper("stuck", "registry.example", env, 300), (err: unknown) => {
        assert.ok(err instanceof CredentialHelperError);
        assert.match(err.message, /^docker-credential-stuck: gave no answer within 300 ms$/);
        assert.match(err.hint ?? "", /--creds or --authfile/);
        return true;
      });
      assert.ok(performance.now() - started < 10_000, "it did not wait for the helper's sleep");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
