/**
 * Bearer token flow against a real docker-registry configured with `auth.token`, and a small
 * token server in the test that signs RS256 JWTs with an x5c certificate made by openssl.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { openImage, AuthRequiredError, AuthFailedError, type Image } from "../../src/oci/index.js";
import {
  buildImage,
  hermeticEnv,
  readAll,
  skopeo,
  startRegistry,
  tarNames,
  tmp,
  writeLayout,
  type RunningRegistry,
} from "./helpers.js";

let work: string;
let pushTo: RunningRegistry;
let reg: RunningRegistry;
let tokenServer: Server;
const tokenRequests: { scope: string; auth: string | undefined }[] = [];

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

before(async () => {
  work = await tmp();
  const storage = join(work, "storage");
  pushTo = await startRegistry(storage);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(work, "key.pem"),
      "-out",
      join(work, "cert.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=gvmconv-test-token",
    ],
    { stdio: "ignore" },
  );
  const key = createPrivateKey(await readFile(join(work, "key.pem")));
  const certDer = new X509Certificate(await readFile(join(work, "cert.pem"))).raw.toString("base64");
  const good = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;

  tokenServer = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const scope = u.searchParams.get("scope") ?? "";
    const auth = req.headers.authorization;
    tokenRequests.push({ scope, auth });
    if (auth !== undefined && auth !== good) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      return;
    }
    const [, name = ""] = /^repository:(.+):pull$/.exec(scope) ?? [];
    // Anonymous users may pull public/*; alice may pull anything.
    const actions = auth === good || name.startsWith("public/") ? ["pull"] : [];
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [certDer] }));
    const claims = b64url(
      JSON.stringify({
        iss: "test-issuer",
        sub: auth === good ? "alice" : "",
        aud: "test-registry",
        exp: now + 600,
        nbf: now - 60,
        iat: now - 60,
        jti: randomBytes(8).toString("hex"),
        access: [{ type: "repository", name, actions }],
      }),
    );
    const sig = b64url(sign("sha256", Buffer.from(`${header}.${claims}`), key));
    const token = `${header}.${claims}.${sig}`;
    res.writeHead(200, { "content-type": "application/json" });
    // Both spellings the spec allows: `token` for anonymous, `access_token` for alice.
    res.end(JSON.stringify(auth === good ? { access_token: token, expires_in: 600 } : { token }));
  });
  await new Promise<void>((r) => tokenServer.listen(0, "127.0.0.1", r));
  const a = tokenServer.address();
  const tokenPort = typeof a === "object" && a !== null ? a.port : 0;
  reg = await startRegistry(
    storage,
    [
      "auth:",
      "  token:",
      `    realm: http://127.0.0.1:${tokenPort}/token`,
      "    service: test-registry",
      "    issuer: test-issuer",
      `    rootcertbundle: ${join(work, "cert.pem")}`,
    ].join("\n"),
  );
  const img = await buildImage({
    layers: [
      { files: { hello: "world" }, compression: "gzip" },
      { files: { two: "2" }, compression: "gzip" },
    ],
  });
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "x", image: img }]);
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:x`,
    `docker://${pushTo.host}/public/img:1`,
  );
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:x`,
    `docker://${pushTo.host}/private/img:1`,
  );
});

after(async () => {
  tokenServer.close();
  await pushTo.stop();
  await reg.stop();
  await rm(work, { recursive: true, force: true });
});

async function pull(repo: string, extra: Partial<Parameters<typeof openImage>[1]> = {}): Promise<Image> {
  return await openImage(`${reg.host}/${repo}:1`, {
    cacheDir: join(work, `cache-${randomBytes(4).toString("hex")}`),
    env: hermeticEnv(work),
    retryDelayMs: 1,
    ...extra,
  });
}

test("anonymous bearer token (`token`), cached across requests", async () => {
  tokenRequests.length = 0;
  const img = await pull("public/img");
  try {
    await img.fetchLayers();
    assert.deepEqual(await tarNames(await readAll(await img.openLayer(0))), ["hello"]);
  } finally {
    await img.close();
  }
  // manifest + config + 2 layers, one token.
  assert.equal(tokenRequests.length, 1);
  assert.equal(tokenRequests[0]?.scope, "repository:public/img:pull");
  assert.equal(tokenRequests[0]?.auth, undefined);
});

test("private repository: no credentials → how to log in; wrong → refused; right (`access_token`) → pulled", async () => {
  await assert.rejects(
    pull("private/img"),
    (err: unknown) => err instanceof AuthRequiredError && err.hint.includes(`docker login ${reg.host}`),
  );
  await assert.rejects(
    pull("private/img", { credentials: { username: "alice", password: "nope" } }),
    AuthFailedError,
  );
  const img = await pull("private/img", { credentials: { username: "alice", password: "s3cret" } });
  try {
    await img.fetchLayers();
    assert.deepEqual(await tarNames(await readAll(await img.openLayer(1))), ["two"]);
  } finally {
    await img.close();
  }
});
