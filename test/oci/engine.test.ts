/**
 * Engine discovery (engine.ts): which sockets are candidates for an environment, in the Docker
 * CLI's order, and what a lookup makes of a missing socket, a plain file, a socket nobody
 * listens on (refused at once), a socket that never answers (the timeout) and a live answer.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { join } from "node:path";
import {
  engineCandidates,
  imagePath,
  lookupImage,
  DEFAULT_DOCKER_SOCKET,
  PODMAN_ROOTFUL_SOCKET,
} from "../../src/oci/engine.js";
import { parseSource } from "../../src/oci/source.js";
import { tmp } from "./helpers.js";

let work: string;
let live: Server;
let liveSock: string;
let mute: NetServer;
let muteSock: string;
const muteSockets: Socket[] = [];

before(async () => {
  work = await tmp("gvmconv-engine-test-");
  liveSock = join(work, "live.sock");
  live = createServer((req, res) => {
    if (req.url === "/images/my_image/json") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ Id: `sha256:${"ab".repeat(32)}`, RepoTags: ["localhost/my_image:latest"] }));
    } else {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `No such image: ${req.url}` }));
    }
  });
  await new Promise<void>((r) => live.listen(liveSock, r));
  // Accepts connections and never answers.
  muteSock = join(work, "mute.sock");
  mute = createNetServer((s) => muteSockets.push(s));
  await new Promise<void>((r) => mute.listen(muteSock, r));
});

after(async () => {
  live.close();
  for (const s of muteSockets) s.destroy();
  mute.close();
  await rm(work, { recursive: true, force: true });
});

test("DOCKER_HOST is the only candidate; a non-unix one is unusable", async () => {
  assert.deepEqual(await engineCandidates({ DOCKER_HOST: "unix:///x/d.sock", XDG_RUNTIME_DIR: "/r" }), {
    endpoints: [{ host: "unix:///x/d.sock", socketPath: "/x/d.sock", origin: "DOCKER_HOST" }],
    unusable: undefined,
  });
  const tcp = await engineCandidates({ DOCKER_HOST: "tcp://10.0.0.1:2375" });
  assert.deepEqual(tcp.endpoints, []);
  assert.match(tcp.unusable ?? "", /DOCKER_HOST=tcp:\/\/10\.0\.0\.1:2375 is not a unix socket/);
});

test("without DOCKER_HOST or a context: Docker's socket, then Podman's rootful and rootless", async () => {
  const c = await engineCandidates({ DOCKER_CONFIG: join(work, "none"), XDG_RUNTIME_DIR: "/run/user/1000" });
  assert.deepEqual(
    c.endpoints.map((e) => e.socketPath),
    [DEFAULT_DOCKER_SOCKET, PODMAN_ROOTFUL_SOCKET, "/run/user/1000/podman/podman.sock"],
  );
  const noRuntime = await engineCandidates({ DOCKER_CONFIG: join(work, "none") });
  assert.equal(noRuntime.endpoints.length, 2);
});

test("the current context: config.json's currentContext, DOCKER_CONTEXT over it, `default` is none", async () => {
  const config = join(work, "docker-config");
  const metaOf = async (name: string, host: string): Promise<void> => {
    const dir = join(config, "contexts", "meta", createHash("sha256").update(name).digest("hex"));
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "meta.json"),
      JSON.stringify({ Name: name, Endpoints: { docker: { Host: host } } }),
    );
  };
  await mkdir(config, { recursive: true });
  await writeFile(join(config, "config.json"), JSON.stringify({ currentContext: "one" }));
  await metaOf("one", "unix:///one.sock");
  await metaOf("two", "unix:///two.sock");
  await metaOf("remote", "ssh://me@host");
  assert.deepEqual((await engineCandidates({ DOCKER_CONFIG: config })).endpoints, [
    { host: "unix:///one.sock", socketPath: "/one.sock", origin: "context one" },
  ]);
  // HOME/.docker when DOCKER_CONFIG is unset.
  const home = join(work, "home");
  await mkdir(home);
  await rm(join(home, ".docker"), { recursive: true, force: true });
  spawnSync("cp", ["-r", config, join(home, ".docker")]);
  assert.equal((await engineCandidates({ HOME: home })).endpoints[0]?.socketPath, "/one.sock");
  assert.equal(
    (await engineCandidates({ DOCKER_CONFIG: config, DOCKER_CONTEXT: "two" })).endpoints[0]?.socketPath,
    "/two.sock",
  );
  const ssh = await engineCandidates({ DOCKER_CONFIG: config, DOCKER_CONTEXT: "remote" });
  assert.deepEqual(ssh.endpoints, []);
  assert.match(ssh.unusable ?? "", /context remote points at ssh:\/\/me@host; only unix:\/\//);
  const gone = await engineCandidates({ DOCKER_CONFIG: config, DOCKER_CONTEXT: "gone" });
  assert.match(gone.unusable ?? "", /context gone has no readable endpoint/);
  const def = await engineCandidates({ DOCKER_CONFIG: config, DOCKER_CONTEXT: "default" });
  assert.equal(def.endpoints[0]?.socketPath, DEFAULT_DOCKER_SOCKET);
});

test("lookup: past a missing socket, a plain file and a refused socket to the live engine", async () => {
  const file = join(work, "plain-file");
  await writeFile(file, "");
  // A socket file with nobody listening: bound by a process that then exits.
  const dead = join(work, "dead.sock");
  const py = spawnSync("python3", [
    "-c",
    `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(dead)})`,
  ]);
  assert.equal(py.status, 0, py.stderr?.toString());
  const ep = (socketPath: string) => ({ host: `unix://${socketPath}`, socketPath, origin: "default" });
  const candidates = {
    endpoints: [ep(join(work, "missing.sock")), ep(file), ep(dead), ep(liveSock)],
    unusable: undefined,
  };
  const start = performance.now();
  const found = await lookupImage("my_image", candidates);
  assert.ok(performance.now() - start < 1_000, "a refused socket costs no wait");
  assert.equal(found.kind, "found");
  assert.equal(found.kind === "found" && found.id, `sha256:${"ab".repeat(32)}`);
  assert.equal(found.kind === "found" && found.endpoint.socketPath, liveSock);

  const absent = await lookupImage("other/img:2", candidates);
  assert.equal(absent.kind, "absent");
  assert.equal(absent.kind === "absent" && absent.status, 404);
  assert.equal(absent.kind === "absent" && absent.message, "No such image: /images/other/img%3A2/json");

  const none = await lookupImage("my_image", {
    endpoints: candidates.endpoints.slice(0, 3),
    unusable: undefined,
  });
  assert.equal(none.kind, "unreachable");
  const tried = none.kind === "unreachable" ? none.tried : [];
  assert.equal(tried.length, 3);
  assert.match(tried[0] ?? "", /missing\.sock: no such socket$/);
  assert.match(tried[1] ?? "", /plain-file: not a socket$/);
  assert.match(tried[2] ?? "", /dead\.sock: connect ECONNREFUSED/);
});

test("lookup: an engine that accepts and never answers is given up on after the timeout", async () => {
  const start = performance.now();
  const r = await lookupImage(
    "my_image",
    {
      endpoints: [{ host: `unix://${muteSock}`, socketPath: muteSock, origin: "default" }],
      unusable: undefined,
    },
    { inspectTimeoutMs: 300 },
  );
  const took = performance.now() - start;
  assert.equal(r.kind, "unreachable");
  assert.ok(took >= 250 && took < 3_000, `took ${took} ms`);
});

test("image paths keep '/' and escape the rest; ids parse as ids, never as registry names", () => {
  assert.equal(imagePath("ghcr.io/org/img:1", "get"), "/images/ghcr.io/org/img%3A1/get");
  assert.equal(imagePath("sha256:abc", "json"), "/images/sha256%3Aabc/json");
  const hex = "0123456789ab".repeat(5) + "cdef";
  for (const id of ["0123456789ab", hex, `sha256:${hex}`]) {
    assert.deepEqual(parseSource(id), { transport: "image-id", id });
  }
  assert.deepEqual(parseSource(`docker-daemon:0123456789ab`), {
    transport: "docker-daemon",
    name: "0123456789ab",
    reference: undefined,
  });
  // 11 or 13 hex is a name like any other: looked up locally first, then on the registry.
  const name = parseSource("0123456789a");
  assert.equal(name.transport === "docker" && name.engineName, "0123456789a");
  const forced = parseSource("docker://my_image");
  assert.equal(forced.transport === "docker" && forced.engineName, undefined);
});
