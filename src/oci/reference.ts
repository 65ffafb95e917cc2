/**
 * Docker-style image references, parsed and normalized the way `docker pull` does it
 * (grammar of distribution/reference: `[domain[:port]/]path[:tag][@digest]`).
 *
 * `alpine` → docker.io/library/alpine:latest, served by registry-1.docker.io.
 */
import { InvalidReferenceError } from "./errors.js";
import { parseDigest } from "./digest.js";

/** The registry Docker Hub names are normalized to. */
export const DOCKER_HUB = "docker.io";
/** Where Docker Hub's distribution API actually lives. */
export const DOCKER_HUB_ENDPOINT = "registry-1.docker.io";
/** Docker's key for Hub credentials in config.json. */
export const DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/";

export interface Reference {
  /** Normalized registry host[:port], e.g. `docker.io`, `ghcr.io`, `localhost:5000`. */
  readonly registry: string;
  /** Host[:port] to talk to: `registry-1.docker.io` for Docker Hub, else `registry`. */
  readonly endpoint: string;
  /** Repository path within the registry, e.g. `library/alpine`. */
  readonly repository: string;
  /** Tag; `latest` when neither tag nor digest was given. Absent when only a digest was given. */
  readonly tag: string | undefined;
  /** `sha256:<hex>` when pinned; the digest wins over the tag when both are given. */
  readonly digest: string | undefined;
  /** `tag` or `digest` — what to ask the registry for (the digest when there is one). */
  readonly ref: string;
  /** Fully qualified `registry/repository[:tag][@digest]`. */
  readonly canonical: string;
  /** What Docker prints: `alpine:3.20`, `user/img:tag`, `ghcr.io/org/img:tag`. */
  readonly familiar: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

/** Parse and normalize a reference; throws `InvalidReferenceError` naming what is wrong. */
export function parseReference(input: string): Reference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (input.length === 0) fail("it is empty");
  if (/\s/.test(input)) fail("it contains whitespace");
  if (/^[a-f0-9]{64}$/.test(input))
    fail("a bare 64-hex image id is not a reference (use repository@sha256:<hex>)");
  if (/[A-Z]/.test(input) && !input.includes("/") && !input.includes("@")) {
    // Docker's own message for `Alpine`: repository names must be lowercase.
    fail("repository name must be lowercase");
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      digest = parseDigest(d).digest;
    } catch (err) {
      fail(`bad digest "${d}" (${(err as Error).message.replace(/^invalid digest "[^"]*": /, "")})`);
    }
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag))
      fail(`bad tag "${tag}" (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`);
  }
  if (rest.length === 0) fail("the repository name is missing");

  // distribution/reference splitDockerDomain: the first component is a registry only when it
  // looks like a host (has '.' or ':', is `localhost`, or has uppercase letters).
  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes(".") ||
      first.includes(":") ||
      first === "localhost" ||
      first !== first.toLowerCase()
    ) {
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  validateDomain(registry, fail);
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (path.length === 0) fail("the repository name is missing");
  for (const component of path.split("/")) {
    if (component.length === 0) fail("the repository path has an empty component");
    if (component !== component.toLowerCase()) fail("repository name must be lowercase");
    if (!PATH_COMPONENT.test(component)) {
      fail(
        `bad repository path component "${component}" (lowercase letters and digits, separated by '.', '_', '__' or '-')`,
      );
    }
  }
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  if (registry.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX)
    fail(`the name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);

  if (tag === undefined && digest === undefined) tag = "latest";
  return makeReference(registry, path, tag, digest);
}

function validateDomain(registry: string, fail: (reason: string) => never): void {
  let host = registry;
  const m = /^(.*?)(?::(\d+))?$/.exec(registry);
  if (m !== null && m[2] !== undefined) {
    host = m[1] ?? "";
    const port = Number(m[2]);
    if (port < 1 || port > 65535) fail(`bad registry port in "${registry}"`);
  } else if (registry.includes(":") && !IPV6.test(registry)) {
    fail(`bad registry "${registry}" (the port must be a number)`);
  }
  if (IPV6.test(host)) return;
  if (host.length === 0 || !host.split(".").every((c) => DOMAIN_COMPONENT.test(c)))
    fail(`bad registry host "${registry}"`);
}

function makeReference(
  registry: string,
  repository: string,
  tag: string | undefined,
  digest: string | undefined,
): Reference {
  const suffix = `${tag !== undefined ? `:${tag}` : ""}${digest !== undefined ? `@${digest}` : ""}`;
  let familiarName = `${registry}/${repository}`;
  if (registry === DOCKER_HUB)
    familiarName = repository.startsWith("library/") ? repository.slice(8) : repository;
  return {
    registry,
    endpoint: registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry,
    repository,
    tag,
    digest,
    ref: digest ?? tag ?? "latest",
    canonical: `${registry}/${repository}${suffix}`,
    familiar: `${familiarName}${suffix}`,
  };
}

/** The same repository pinned to `digest` (tag kept for display). */
export function withDigest(ref: Reference, digest: string): Reference {
  return makeReference(ref.registry, ref.repository, ref.tag, digest);
}

/** True for hosts Docker talks plain HTTP to without being told: localhost and loopback addresses. */
export function isLoopbackRegistry(hostPort: string): boolean {
  const host = hostPort.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
