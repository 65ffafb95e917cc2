/**
 * Test helpers for src/oci: build small images (tar-stream layers, gzip/zstd/none), write OCI
 * layouts, run the real `docker-registry` on 127.0.0.1, push with skopeo. Not a test file.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, writeFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { packTar } from "../support/tar.js";
import { request } from "undici";

const execFileP = promisify(execFile);

export const sha256 = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export async function tmp(prefix = "gvmconv-oci-test-"): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix));
}

/** An uncompressed tar with the given regular files. */
export async function layerTar(files: Record<string, string>): Promise<Buffer> {
  return await packTar(
    Object.entries(files).map(([name, body]) => ({
      header: { name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 },
      body,
    })),
  );
}

export type Compression = "gzip" | "zstd" | "none";

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === "gzip") return gzipSync(tar);
  if (c === "zstd") {
    const r = spawnSync("zstd", ["-q", "-c", "-19"], { input: tar, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
    return r.stdout;
  }
  return tar;
}

const LAYER_TYPE: Record<Compression, string> = {
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  none: "application/vnd.oci.image.layer.v1.tar",
};

export interface TestImageSpec {
  /** ref.name annotation in index.json */
  ref?: string;
  architecture?: string;
  variant?: string;
  layers: { files: Record<string, string>; compression: Compression }[];
  cmd?: string[];
}

export interface BuiltImage {
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
  manifest: Buffer;
  blobs: Map<string, Buffer>;
}

export async function buildImage(spec: TestImageSpec): Promise<BuiltImage> {
  const layers = [];
  for (const l of spec.layers) layers.push({ tar: await layerTar(l.files), compression: l.compression });
  return assembleImage(layers, {
    architecture: spec.architecture ?? "amd64",
    os: "linux",
    ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
    config: { Env: ["PATH=/usr/bin:/bin"], Cmd: spec.cmd ?? ["/bin/sh"], WorkingDir: "/" },
  });
}

/**
 * The blobs of one image from its layer tars and its config fields: layers compressed as asked,
 * `rootfs.diff_ids` added to the config (last), and the OCI manifest over them.
 */
export function assembleImage(
  layerTars: { tar: Buffer; compression: Compression }[],
  configFields: Record<string, unknown>,
): BuiltImage {
  const blobs = new Map<string, Buffer>();
  const layers = layerTars.map(({ tar, compression }) => {
    const blob = compress(tar, compression);
    blobs.set(sha256(blob), blob);
    return { mediaType: LAYER_TYPE[compression], digest: sha256(blob), size: blob.length };
  });
  const diffIds = layerTars.map(({ tar }) => sha256(tar));
  const config = Buffer.from(
    JSON.stringify({ ...configFields, rootfs: { type: "layers", diff_ids: diffIds } }),
  );
  blobs.set(sha256(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha256(config),
        size: config.length,
      },
      layers,
    }),
  );
  blobs.set(sha256(manifest), manifest);
  return {
    manifestDigest: sha256(manifest),
    configDigest: sha256(config),
    layerDigests: layers.map((l) => l.digest),
    diffIds,
    manifest,
    blobs,
  };
}

/**
 * Write an OCI layout. `entries` are single images (each its own index.json entry, named by
 * `ref`) or a multi-platform group (one index blob, named by `ref`).
 */
export async function writeLayout(
  dir: string,
  entries: (
    | { kind: "image"; ref?: string; image: BuiltImage }
    | { kind: "multi"; ref?: string; images: { image: BuiltImage; architecture: string; variant?: string }[] }
  )[],
): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const put = async (b: Buffer): Promise<void> =>
    writeFile(join(dir, "blobs", "sha256", sha256(b).slice(7)), b);
  const manifests = [];
  for (const e of entries) {
    const annotations = e.ref !== undefined ? { "org.opencontainers.image.ref.name": e.ref } : undefined;
    if (e.kind === "image") {
      for (const b of e.image.blobs.values()) await put(b);
      manifests.push({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: e.image.manifestDigest,
        size: e.image.manifest.length,
        ...(annotations ? { annotations } : {}),
      });
    } else {
      const idx = {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: e.images.map(({ image, architecture, variant }) => ({
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: image.manifestDigest,
          size: image.manifest.length,
          platform: { os: "linux", architecture, ...(variant !== undefined ? { variant } : {}) },
        })),
      };
      for (const { image } of e.images) for (const b of image.blobs.values()) await put(b);
      const ib = Buffer.from(JSON.stringify(idx));
      await put(ib);
      manifests.push({
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: sha256(ib),
        size: ib.length,
        ...(annotations ? { annotations } : {}),
      });
    }
  }
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests }));
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export interface RunningRegistry {
  port: number;
  host: string;
  stop(): Promise<void>;
}

/** Start `docker-registry` on 127.0.0.1 with filesystem storage at `storage`. `auth` is raw YAML. */
export async function startRegistry(storage: string, auth?: string): Promise<RunningRegistry> {
  const port = await freePort();
  const dir = await tmp("gvmconv-registry-");
  const config = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: test-secret",
    ...(auth !== undefined ? [auth] : []),
  ].join("\n");
  await writeFile(join(dir, "config.yml"), config);
  const child: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  let exited = false;
  child.on("exit", () => (exited = true));
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const res = await request(`http://127.0.0.1:${port}/v2/`);
      await res.body.dump();
      break;
    } catch {
      if (i > 200) throw new Error(`docker-registry did not start: ${stderr}`);
      await sleep(50);
    }
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A registry over `storage` behind Basic auth (htpasswd, bcrypt) for one `user`/`password`: what
 * another registry on the same storage pushed is readable here only with those credentials.
 */
export async function startAuthRegistry(
  storage: string,
  user: string,
  password: string,
): Promise<RunningRegistry> {
  const dir = await tmp("gvmconv-htpasswd-");
  const file = join(dir, "htpasswd");
  await writeFile(file, execFileSync("htpasswd", ["-Bbn", user, password]));
  const registry = await startRegistry(
    storage,
    ["auth:", "  htpasswd:", "    realm: test", `    path: ${file}`].join("\n"),
  ).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  // The password file goes with the registry: nothing of a test run is left in the temp dir.
  return {
    ...registry,
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function skopeo(...args: string[]): Promise<void> {
  await execFileP("skopeo", ["--insecure-policy", ...args], { maxBuffer: 1 << 24 });
}

/**
 * Puts `image` in a registry as `target` (`host:port/repo:tag`) the way a user's own tools would:
 * written as an OCI layout at `work`/layout, then `skopeo copy` to the registry, over plain HTTP.
 */
export async function pushImage(image: BuiltImage, target: string, work: string): Promise<void> {
  const layout = join(work, "layout");
  await writeLayout(layout, [{ kind: "image", ref: "x", image }]);
  await skopeo("copy", "--dest-tls-verify=false", `oci:${layout}:x`, `docker://${target}`);
}

/** Env that hides the developer's own Docker/Podman credentials. */
export function hermeticEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "",
    DOCKER_CONFIG: join(dir, "docker-config"),
    XDG_CONFIG_HOME: join(dir, "xdg-config"),
    // Else podman's /run/containers/$UID/auth.json of this machine would be read.
    XDG_RUNTIME_DIR: join(dir, "xdg-runtime"),
    // The block cache's secret (context.ts) is made under it.
    XDG_STATE_HOME: join(dir, "xdg-state"),
    ...extra,
  };
}

export async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** File names in an uncompressed tar. */
export async function tarNames(tar: Buffer): Promise<string[]> {
  const { extract } = await import("tar-stream");
  const ex = extract();
  const names: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (h, stream, next) => {
      names.push(h.name);
      stream.on("end", next);
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  ex.end(tar);
  await done;
  return names;
}
