/**
 * Finding a local container engine (Docker or Podman's Docker-compatible API) and asking it
 * whether it has an image, over its unix socket — never through the `docker` CLI.
 *
 * Where the engine is, in the order the Docker CLI decides it (docker/cli `cli/command/cli.go`):
 *   1. `DOCKER_HOST` (only `unix://` is spoken; another scheme means "no engine we can reach");
 *   2. the current context: `DOCKER_CONTEXT`, else `currentContext` of `$DOCKER_CONFIG/config.json`
 *      (`~/.docker/config.json`), whose `contexts/meta/<sha256 of the name>/meta.json` holds
 *      `Endpoints.docker.Host`;
 *   3. otherwise the usual sockets: `/var/run/docker.sock`, Podman's rootful `/run/podman/podman.sock`
 *      and rootless `$XDG_RUNTIME_DIR/podman/podman.sock`.
 * An explicit choice (1 or 2) is the only candidate, as with the Docker CLI: a user who names an
 * engine does not get another one by surprise.
 *
 * The first candidate that accepts a connection is the engine; what it says about the image is
 * the answer. No engine, a dead socket or a refused connection is not an error here: the caller
 * falls back to the registry. A connect timeout keeps a dead socket cheap.
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { undici } from "../http/index.js";
import type { Env } from "../context.js";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
export const PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock";

/** A socket that may hold an engine, and why it is a candidate (for messages). */
export interface EngineEndpoint {
  /** `unix:///path`, as DOCKER_HOST writes it. */
  readonly host: string;
  readonly socketPath: string;
  /** `DOCKER_HOST`, `context NAME`, or `default`. */
  readonly origin: string;
}

export interface EngineCandidates {
  endpoints: EngineEndpoint[];
  /** Why an explicit choice gave no usable endpoint (`DOCKER_HOST=tcp://…`, a broken context). */
  unusable: string | undefined;
}

/** How long to wait for a socket to accept; a live local engine answers at once. */
export const ENGINE_CONNECT_TIMEOUT_MS = 1_000;
/** How long an engine may take to answer an inspect (Podman's first call opens its storage). */
export const ENGINE_INSPECT_TIMEOUT_MS = 30_000;

function unixEndpoint(host: string, origin: string): EngineEndpoint | undefined {
  if (!host.startsWith("unix://")) return undefined;
  const socketPath = host.slice("unix://".length);
  return socketPath === "" ? undefined : { host, socketPath, origin };
}

/** The Docker CLI's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(env: Env): string {
  const dir = env.DOCKER_CONFIG;
  if (dir !== undefined && dir !== "") return dir;
  return join(env.HOME !== undefined && env.HOME !== "" ? env.HOME : homedir(), ".docker");
}

/** The engine sockets to try, in order (see the file comment). Reads only `env` and config files. */
export async function engineCandidates(env: Env): Promise<EngineCandidates> {
  const dockerHost = env.DOCKER_HOST;
  if (dockerHost !== undefined && dockerHost !== "") {
    const e = unixEndpoint(dockerHost, "DOCKER_HOST");
    return e !== undefined
      ? { endpoints: [e], unusable: undefined }
      : {
          endpoints: [],
          unusable: `DOCKER_HOST=${dockerHost} is not a unix socket; only unix:// engines are supported`,
        };
  }
  const configDir = dockerConfigDir(env);
  const context = await currentContext(env, configDir);
  if (context !== undefined && context !== "default") {
    const meta = join(configDir, "contexts", "meta", createHash("sha256").update(context).digest("hex"));
    const host = await contextHost(join(meta, "meta.json"));
    const e = host === undefined ? undefined : unixEndpoint(host, `context ${context}`);
    return e !== undefined
      ? { endpoints: [e], unusable: undefined }
      : {
          endpoints: [],
          unusable:
            host === undefined
              ? `the Docker context ${context} has no readable endpoint (${join(meta, "meta.json")})`
              : `the Docker context ${context} points at ${host}; only unix:// engines are supported`,
        };
  }
  const endpoints = [
    { host: `unix://${DEFAULT_DOCKER_SOCKET}`, socketPath: DEFAULT_DOCKER_SOCKET, origin: "default" },
    { host: `unix://${PODMAN_ROOTFUL_SOCKET}`, socketPath: PODMAN_ROOTFUL_SOCKET, origin: "default" },
  ];
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== "") {
    const socketPath = join(runtime, "podman", "podman.sock");
    endpoints.push({ host: `unix://${socketPath}`, socketPath, origin: "default" });
  }
  return { endpoints, unusable: undefined };
}

async function currentContext(env: Env, configDir: string): Promise<string | undefined> {
  const named = env.DOCKER_CONTEXT;
  if (named !== undefined && named !== "") return named;
  let text: string;
  try {
    text = await readFile(join(configDir, "config.json"), "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = (JSON.parse(text) as { currentContext?: unknown }).currentContext;
    return typeof v === "string" && v !== "" ? v : undefined;
  } catch {
    // A config.json the credential lookup will complain about; it names no context.
    return undefined;
  }
}

async function contextHost(metaPath: string): Promise<string | undefined> {
  try {
    const meta = JSON.parse(await readFile(metaPath, "utf8")) as {
      Endpoints?: { docker?: { Host?: unknown } };
    };
    const host = meta.Endpoints?.docker?.Host;
    return typeof host === "string" && host !== "" ? host : undefined;
  } catch {
    return undefined;
  }
}

/** The path of an image in the Engine API: each `/`-separated part escaped, as Docker clients send it. */
export function imagePath(name: string, what: "json" | "get"): string {
  return `/images/${name.split("/").map(encodeURIComponent).join("/")}/${what}`;
}

export type EngineLookup =
  /** The engine has the image: its id (`sha256:…`) and tags. */
  | { kind: "found"; endpoint: EngineEndpoint; id: string; repoTags: string[] }
  /** An engine answered, and does not have it (`message` is its answer). */
  | { kind: "absent"; endpoint: EngineEndpoint; status: number; message: string }
  /** No candidate accepted a connection; `tried` says what was tried and why each failed. */
  | { kind: "unreachable"; tried: string[]; unusable: string | undefined };

export interface LookupOptions {
  signal?: AbortSignal | undefined;
  connectTimeoutMs?: number;
  inspectTimeoutMs?: number;
}

/** `GET /images/{name}/json` on the first engine that accepts a connection. */
export async function lookupImage(
  name: string,
  candidates: EngineCandidates,
  opts: LookupOptions = {},
): Promise<EngineLookup> {
  const tried: string[] = [];
  for (const endpoint of candidates.endpoints) {
    try {
      if (!(await stat(endpoint.socketPath)).isSocket()) {
        tried.push(`${endpoint.host}: not a socket`);
        continue;
      }
    } catch {
      tried.push(`${endpoint.host}: no such socket`);
      continue;
    }
    const timeout = opts.inspectTimeoutMs ?? ENGINE_INSPECT_TIMEOUT_MS;
    const agent = new (undici().Agent)({
      connect: {
        socketPath: endpoint.socketPath,
        timeout: opts.connectTimeoutMs ?? ENGINE_CONNECT_TIMEOUT_MS,
      },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    try {
      let res;
      try {
        res = await undici().request(`http://engine${imagePath(name, "json")}`, {
          dispatcher: agent,
          ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        opts.signal?.throwIfAborted();
        // Refused, timed out, reset: nothing usable listens there.
        tried.push(`${endpoint.host}: ${(err as Error).message}`);
        continue;
      }
      const text = await res.body.text();
      if (res.statusCode === 200) {
        const info = parseInspect(text);
        if (info !== undefined) return { kind: "found", endpoint, ...info };
        return { kind: "absent", endpoint, status: 200, message: "the engine's answer has no image Id" };
      }
      return { kind: "absent", endpoint, status: res.statusCode, message: engineMessage(text) };
    } finally {
      await agent.close();
    }
  }
  return { kind: "unreachable", tried, unusable: candidates.unusable };
}

function parseInspect(text: string): { id: string; repoTags: string[] } | undefined {
  try {
    const v = JSON.parse(text) as { Id?: unknown; RepoTags?: unknown };
    if (typeof v.Id !== "string") return undefined;
    const tags = Array.isArray(v.RepoTags) ? v.RepoTags.filter((t) => typeof t === "string") : [];
    return { id: v.Id, repoTags: tags as string[] };
  } catch {
    return undefined;
  }
}

/** The `message` of an Engine API error body, else the body's start. */
export function engineMessage(text: string): string {
  let msg = text;
  try {
    msg = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // plain text error
  }
  return msg.trim().slice(0, 500);
}
