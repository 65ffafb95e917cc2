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
import { CollectingReporter } from "../../src/reporter.js";
import {
  buildImage,
  freePort,
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
    } else if (req.url?.includes("broken") === true) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end('{"message":"storage is on fire"}');
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

test("a plain name: an engine that fails the lookup, or a DOCKER_HOST we cannot use, says so and goes to the registry", async () => {
  const closed = await freePort();
  for (const [host, said] of [
    [
      `unix://${socket}`,
      /could not inspect 127\.0\.0\.1:\d+\/broken:1 \(HTTP 500\): storage is on fire; trying the registry/,
    ],
    [
      "tcp://127.0.0.1:2375",
      /DOCKER_HOST=tcp:\/\/127\.0\.0\.1:2375 is not a unix socket.*; trying the registry for/,
    ],
  ] as const) {
    const reporter = new CollectingReporter();
    await assert.rejects(
      openImage(`127.0.0.1:${closed}/broken:1`, {
        env: hermeticEnv(work, { DOCKER_HOST: host }),
        reporter,
        retries: 0,
        retryDelayMs: 1,
      }),
      (e: unknown) => (e as { code?: string }).code === "E_OCI_NETWORK",
    );
    assert.ok(
      reporter.infos.some((l) => said.test(l)),
      reporter.infos.join("\n"),
    );
  }
});
