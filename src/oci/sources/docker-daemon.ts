/**
 * `docker-daemon:REF` — ask a local Docker daemon for `GET /images/{name}/get` (the export
 * `docker save` uses) over its unix socket, spool it to a temporary file, and read that as a
 * docker-archive. The socket comes from `DOCKER_HOST=unix://…`, else /var/run/docker.sock.
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Agent, request } from "undici";
import { DockerDaemonError } from "../errors.js";
import type { Image } from "../image.js";
import type { ResolvedOptions } from "../options.js";
import { TarFiles } from "./local-files.js";
import { openDockerArchiveFiles } from "./docker-archive.js";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export function dockerSocketPath(env: NodeJS.ProcessEnv): string {
  const host = env.DOCKER_HOST;
  if (host === undefined || host === "") return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  throw new DockerDaemonError(
    host,
    `DOCKER_HOST=${host} is not a unix socket; only unix:// daemons are supported`,
  );
}

/** `name` is what the daemon knows the image by: `alpine:3.20`, `ghcr.io/org/img:tag`, or an image id. */
export async function openDockerDaemon(name: string, opts: ResolvedOptions): Promise<Image> {
  const socketPath = dockerSocketPath(opts.env);
  try {
    const s = await stat(socketPath);
    if (!s.isSocket()) throw new Error("not a socket");
  } catch (err) {
    throw new DockerDaemonError(socketPath, `no Docker daemon socket at ${socketPath}`, { cause: err });
  }
  const agent = new Agent({ connect: { socketPath }, bodyTimeout: 0 });
  const dir = await mkdtemp(join(opts.tmpDir, "gvmconv-daemon-"));
  const cleanup = async (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const tar = join(dir, "image.tar");
    let res;
    try {
      res = await request(`http://docker/images/${encodeURIComponent(name)}/get`, {
        dispatcher: agent,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      throw new DockerDaemonError(
        socketPath,
        `cannot talk to the Docker daemon at ${socketPath}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (res.statusCode !== 200) {
      const text = (await res.body.text()).slice(0, 500);
      let msg = text;
      try {
        msg = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // plain text error
      }
      throw new DockerDaemonError(
        socketPath,
        `the Docker daemon could not export ${name} (HTTP ${res.statusCode}): ${msg.trim()}`,
        {
          hint: res.statusCode === 404 ? `pull it first (docker pull ${name}) or use docker://${name}` : "",
        },
      );
    }
    const task = opts.reporter.task(`export ${name} from Docker`);
    try {
      res.body.on("data", (c: Buffer) => task.advance(c.length));
      await pipeline(res.body, createWriteStream(tar));
    } finally {
      task.done();
    }
    const files = await TarFiles.open(tar);
    // The export of one name holds exactly that image.
    return await openDockerArchiveFiles(files, undefined, opts, "docker-daemon", cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    await agent.close();
  }
}
