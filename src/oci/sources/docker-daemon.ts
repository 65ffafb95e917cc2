/**
 * Images in a local container engine (Docker, or Podman's Docker-compatible API): find the engine
 * and ask it for the image (engine.ts), then `GET /images/{name}/get` (the export `docker save`
 * uses), spool it to a temporary file and read that as a docker-archive.
 *
 *   openDockerDaemon     `docker-daemon:REF`: the engine is required
 *   openImageById        a bare image id: only an engine can have it, never a registry
 *   openFromLocalEngine  a plain name: the engine's image when it has one, else undefined
 *
 * The image carries the name as the user typed it (not the engine's `localhost/…` tag), so
 * outputs are named as gvmkit-build names them.
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { undici } from "../../http/index.js";
import {
  engineCandidates,
  engineMessage,
  imagePath,
  lookupImage,
  type EngineEndpoint,
  type EngineLookup,
} from "../engine.js";
import { DockerDaemonError, ImageIdNotLocalError } from "../errors.js";
import type { Image } from "../image.js";
import type { ResolvedOptions } from "../options.js";
import type { Reference } from "../reference.js";
import { TarFiles } from "./local-files.js";
import { openDockerArchiveFiles } from "./docker-archive.js";

export { DEFAULT_DOCKER_SOCKET } from "../engine.js";

const display = (name: string, reference: Reference | undefined): string => reference?.familiar ?? name;

async function lookup(name: string, opts: ResolvedOptions): Promise<EngineLookup> {
  return await lookupImage(name, await engineCandidates(opts.env), { signal: opts.signal });
}

function unreachableMessage(found: Extract<EngineLookup, { kind: "unreachable" }>): string {
  if (found.unusable !== undefined) return found.unusable;
  return `no Docker or Podman engine reachable (${found.tried.join("; ")})`;
}

/** `docker-daemon:REF` — `name` is what the engine knows the image by: `alpine:3.20`, `ghcr.io/org/img:tag`, an id. */
export async function openDockerDaemon(
  name: string,
  reference: Reference | undefined,
  opts: ResolvedOptions,
): Promise<Image> {
  const found = await lookup(name, opts);
  if (found.kind === "unreachable") {
    throw new DockerDaemonError(found.tried[0] ?? "", unreachableMessage(found));
  }
  if (found.kind === "absent") {
    throw new DockerDaemonError(
      found.endpoint.socketPath,
      found.status === 404
        ? `the engine at ${found.endpoint.host} has no image ${name}: ${found.message}`
        : `the engine at ${found.endpoint.host} could not inspect ${name} (HTTP ${found.status}): ${found.message}`,
      found.status === 404 ? { hint: `pull it first (docker pull ${name}) or use docker://${name}` } : {},
    );
  }
  return await exportImage(found.endpoint, name, reference, opts);
}

/** A bare image id (12 or 64 hex, or `sha256:<64 hex>`): an engine's image or a coded error. */
export async function openImageById(id: string, opts: ResolvedOptions): Promise<Image> {
  const found = await lookup(id, opts);
  if (found.kind === "found") return await exportImage(found.endpoint, id, undefined, opts);
  throw new ImageIdNotLocalError(
    id,
    found.kind === "unreachable"
      ? unreachableMessage(found)
      : `the engine at ${found.endpoint.host} has no image ${id}${found.status === 404 ? "" : ` (HTTP ${found.status})`}: ${found.message}`,
  );
}

/**
 * A plain reference: the engine's image when a reachable engine has one under `name`, else
 * undefined (no engine, a dead socket, not there) and the caller goes to the registry.
 */
export async function openFromLocalEngine(
  name: string,
  reference: Reference,
  opts: ResolvedOptions,
): Promise<Image | undefined> {
  const found = await lookup(name, opts);
  if (found.kind === "found") return await exportImage(found.endpoint, name, reference, opts);
  // Not there (404) or no engine is the usual case and says nothing; an engine the user named
  // that cannot be used, or one that fails the lookup, is worth a line before the registry.
  if (found.kind === "unreachable" && found.unusable !== undefined)
    opts.reporter.info(`${found.unusable}; trying the registry for ${name}`);
  if (found.kind === "absent" && found.status !== 404)
    opts.reporter.info(
      `the engine at ${found.endpoint.host} could not inspect ${name} (HTTP ${found.status}): ${found.message}; trying the registry`,
    );
  return undefined;
}

async function exportImage(
  endpoint: EngineEndpoint,
  name: string,
  reference: Reference | undefined,
  opts: ResolvedOptions,
): Promise<Image> {
  opts.reporter.info(`using ${display(name, reference)} from the local engine at ${endpoint.host}`);
  const socketPath = endpoint.socketPath;
  // The export streams for as long as the image is large: no body timeout, but a bounded wait
  // for the engine to start answering.
  const agent = new (undici().Agent)({
    connect: { socketPath, timeout: 10_000 },
    headersTimeout: 300_000,
    bodyTimeout: 0,
  });
  const dir = await mkdtemp(join(opts.tmpDir, "gvmconv-daemon-"));
  const cleanup = async (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const tar = join(dir, "image.tar");
    let res;
    try {
      res = await undici().request(`http://engine${imagePath(name, "get")}`, {
        dispatcher: agent,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      throw new DockerDaemonError(
        socketPath,
        `cannot talk to the engine at ${endpoint.host}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (res.statusCode !== 200) {
      const msg = engineMessage(await res.body.text());
      throw new DockerDaemonError(
        socketPath,
        `the engine at ${endpoint.host} could not export ${name} (HTTP ${res.statusCode}): ${msg}`,
        {
          hint: res.statusCode === 404 ? `pull it first (docker pull ${name}) or use docker://${name}` : "",
        },
      );
    }
    const task = opts.reporter.task(`export ${display(name, reference)} from the engine`);
    try {
      res.body.on("data", (c: Buffer) => task.advance(c.length));
      await pipeline(res.body, createWriteStream(tar));
    } finally {
      task.done();
    }
    const files = await TarFiles.open(tar);
    // The export of one name holds exactly that image.
    const image = await openDockerArchiveFiles(files, undefined, opts, "docker-daemon", cleanup);
    // The engine's tag may be `localhost/my_image:latest` (Podman) or absent (an id): the name
    // the user asked for is the image's name.
    return { ...image, reference };
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    await agent.close();
  }
}
