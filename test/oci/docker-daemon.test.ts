/**
 * docker-daemon: against a loopback stand-in for the Docker API on a unix socket that answers
 * `GET /images/{name}/json` and serves `GET /images/{name}/get` from a docker-archive made by
 * skopeo; and the clear error without one. (test/e2e/engine.test.ts runs a real Podman.)
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { openImage, DockerDaemonError } from "../../src/oci/index.js";
import {
  buildImage,
  hermeticEnv,
  readAll,
  skopeo,
  tarNames,
  tmp,
  writeLayout,
  type BuiltImage,
} from "./helpers.js";

let work: string;
let server: Server;
let socket: string;
let img: BuiltImage;
const asked: string[] = [];

before(async () => {
  work = await tmp();
  img = await buildImage({ layers: [{ files: { "from-daemon": "1" }, compression: "gzip" }] });
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "x", image: img }]);
  const archive = join(work, "save.tar");
  await skopeo("copy", `oci:${join(work, "layout")}:x`, `docker-archive:${archive}:myapp:2`);
  socket = join(work, "docker.sock");
  server = createServer((req, res) => {
    asked.push(req.url ?? "");
    if (req.url === `/images/${encodeURIComponent("myapp:2")}/json`) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ Id: img.configDigest, RepoTags: ["myapp:2"] }));
    } else if (req.url === `/images/${encodeURIComponent("myapp:2")}/get`) {
      res.writeHead(200, { "content-type": "application/x-tar" });
      createReadStream(archive).pipe(res);
    } else {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"message":"reference does not exist"}');
    }
  });
  await new Promise<void>((r) => server.listen(socket, r));
});

after(async () => {
  server.close();
  await rm(work, { recursive: true, force: true });
});

test("docker-daemon: exports through the socket and reads the archive", async () => {
  const env = hermeticEnv(work, { DOCKER_HOST: `unix://${socket}` });
  const image = await openImage("docker-daemon:myapp:2", { env, tmpDir: work });
  try {
    assert.equal(image.transport, "docker-daemon");
    assert.equal(image.configDigest, img.configDigest);
    assert.deepEqual(await tarNames(await readAll(await image.openLayer(0))), ["from-daemon"]);
  } finally {
    await image.close();
  }
  assert.deepEqual(asked, ["/images/myapp%3A2/json", "/images/myapp%3A2/get"]);
  await assert.rejects(
    openImage("docker-daemon:missing:1", { env, tmpDir: work }),
    (e: unknown) =>
      e instanceof DockerDaemonError &&
      /has no image missing:1: reference does not exist/.test(e.message) &&
      /docker pull/.test(e.hint),
  );
});

test("docker-daemon without an engine is a clear error", async () => {
  const env = hermeticEnv(work, { DOCKER_HOST: `unix://${join(work, "nope.sock")}` });
  await assert.rejects(
    openImage("docker-daemon:alpine", { env }),
    (e: unknown) =>
      e instanceof DockerDaemonError &&
      e.code === "E_OCI_DOCKER_DAEMON" &&
      /no Docker or Podman engine reachable \(unix:\/\/.*nope\.sock: no such socket\)/.test(e.message),
  );
});
