/**
 * Publishing an output to an OCI registry as an artifact, laid out as ORAS lays out a pushed file
 * (image-spec v1.1 manifest.md, "Guidelines for Artifact Usage", case: an artifact without
 * config), so `oras pull REF` fetches the file under its name:
 *
 *   manifest  application/vnd.oci.image.manifest.v1+json, with `artifactType`
 *   config    the empty descriptor: application/vnd.oci.empty.v1+json, `{}`, 2 bytes
 *   layers    one blob, the .gvmi (or SquashFS) itself, `org.opencontainers.image.title` = file name
 *
 * Types: `application/vnd.golem.gvmi.v1` for a .gvmi and `application/vnd.golem.squashfs.v1` for
 * a bare SquashFS, both as the artifact's type and as the blob's: each artifact is exactly one file
 * of that format, so the two say the same thing, and a registry's referrers or a consumer can
 * filter on artifactType without reading the layer. Vendor tree (`vnd.golem`, as the spec asks
 * for unregistered types) and a version, so a later format change gets `v2` rather than a
 * guess. Manifest annotations: the SHA3-224 Golem providers verify (`network.golem.image.sha3-224`),
 * and the source it was built from as the pre-defined `org.opencontainers.image.base.digest` /
 * `base.name`. No `created`: the manifest stays reproducible.
 */
import { open } from "node:fs/promises";
import { basename } from "node:path";
import type { RunContext } from "../context.js";
import { GvmconvError } from "../errors.js";
import { defaultCredentialSource, digestOf, parseReference, RegistryClient } from "../oci/index.js";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export const ARTIFACT_TYPES = {
  gvmi: "application/vnd.golem.gvmi.v1",
  squashfs: "application/vnd.golem.squashfs.v1",
} as const;
export const EMPTY_CONFIG = {
  mediaType: "application/vnd.oci.empty.v1+json",
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
} as const;
export const SHA3_ANNOTATION = "network.golem.image.sha3-224";

export interface ArtifactInput {
  file: string;
  format: "gvmi" | "squashfs";
  size: number;
  sha3: string;
  sourceDigest: string | undefined;
  sourceName: string | undefined;
}

export interface PushedArtifact {
  /** `registry/repository@sha256:…` of the manifest. */
  reference: string;
  manifestDigest: string;
}

export async function pushArtifact(
  target: string,
  input: ArtifactInput,
  options: { insecure?: boolean; context: RunContext; chunkSize?: number },
): Promise<PushedArtifact> {
  const ref = parseReference(target);
  const tag = ref.digest === undefined ? (ref.tag ?? "latest") : undefined;
  if (tag === undefined) {
    throw new GvmconvError("E_BUILD_PUBLISH", `oci target ${target} names a digest`, {
      hint: "give registry/repository:tag; the manifest's digest is what the registry computes",
    });
  }
  const client = new RegistryClient(ref.registry, ref.endpoint, {
    insecure: options.insecure ?? false,
    credentials: defaultCredentialSource({ env: options.context.env }),
    ...(options.context.signal !== undefined ? { signal: options.context.signal } : {}),
  });
  try {
    const repo = ref.repository;
    const blobDigest = await sha256File(input.file);
    if (!(await client.hasBlob(repo, EMPTY_CONFIG.digest))) {
      await client.pushBlob(repo, EMPTY_CONFIG.digest, 2, () => Promise.resolve(Buffer.from("{}")));
    }
    if (!(await client.hasBlob(repo, blobDigest))) {
      const handle = await open(input.file, "r");
      try {
        await client.pushBlob(
          repo,
          blobDigest,
          input.size,
          async (offset, length) => {
            const buffer = Buffer.alloc(length);
            const { bytesRead } = await handle.read(buffer, 0, length, offset);
            if (bytesRead !== length)
              throw new GvmconvError("E_BUILD_PUBLISH", `${input.file} changed while it was uploaded`);
            return buffer;
          },
          options.chunkSize,
        );
      } finally {
        await handle.close();
      }
    }
    const type = ARTIFACT_TYPES[input.format];
    const annotations: Record<string, string> = { [SHA3_ANNOTATION]: input.sha3 };
    if (input.sourceDigest !== undefined)
      annotations["org.opencontainers.image.base.digest"] = input.sourceDigest;
    if (input.sourceName !== undefined) annotations["org.opencontainers.image.base.name"] = input.sourceName;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: type,
        config: EMPTY_CONFIG,
        layers: [
          {
            mediaType: type,
            digest: blobDigest,
            size: input.size,
            annotations: { "org.opencontainers.image.title": basename(input.file) },
          },
        ],
        annotations,
      }),
    );
    await client.putManifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest);
    const manifestDigest = digestOf(manifest);
    return { reference: `${ref.registry}/${repo}@${manifestDigest}`, manifestDigest };
  } finally {
    await client.close();
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}
