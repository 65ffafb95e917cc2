/**
 * Publishing a built output: to a local directory (copied in atomically), to the Golem registry
 * (the very upload `--push-to` does), to an OCI registry as an artifact (oci-artifact.ts), or to
 * an S3-compatible bucket (s3.ts).
 */
import { copyFile, mkdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { writeAtomically } from "../atomic-output.js";
import type { RunContext } from "../context.js";
import { push } from "../api/push.js";
import type { PublishSpec } from "./build-file.js";
import { pushArtifact } from "./oci-artifact.js";
import { uploadToS3 } from "./s3.js";

/** What is published: one output of an image, and what it was built from. */
export interface PublishInput {
  path: string;
  format: "gvmi" | "squashfs";
  size: number;
  sha3: string;
  sourceDigest: string | undefined;
  sourceName: string | undefined;
}

export interface Published {
  kind: "dir" | "golem" | "oci" | "s3";
  /** `kind:where`, as the lock records it. */
  target: string;
  /** Where the file now is: a path, or a URL. */
  location: string;
}

/** The lock's name for a target. */
export function targetKey(spec: PublishSpec, baseDir: string): string {
  if (spec.dir !== undefined) return `dir:${resolve(baseDir, spec.dir)}`;
  if (spec.golem !== undefined) return `golem:${spec.golem}`;
  if (spec.oci !== undefined) return `oci:${spec.oci}`;
  return `s3:${spec.s3?.endpoint ?? ""}/${spec.s3?.bucket ?? ""}/${spec.s3?.prefix ?? ""}`;
}

export async function publish(
  input: PublishInput,
  spec: PublishSpec,
  baseDir: string,
  context: RunContext,
): Promise<Published> {
  const target = targetKey(spec, baseDir);
  const file = input.path;
  if (spec.dir !== undefined) {
    const dir = resolve(baseDir, spec.dir);
    await mkdir(dir, { recursive: true });
    const dest = join(dir, basename(file));
    await writeAtomically(dest, { force: true }, (temp) => copyFile(file, temp));
    return { kind: "dir", target, location: dest };
  }
  if (spec.golem !== undefined) {
    const pushed = await push(file, { target: spec.golem, registryUrl: spec.registryUrl, context });
    return { kind: "golem", target, location: pushed.downloadUrl };
  }
  if (spec.oci !== undefined) {
    const pushed = await pushArtifact(
      spec.oci,
      {
        file,
        format: input.format,
        size: input.size,
        sha3: input.sha3,
        sourceDigest: input.sourceDigest,
        sourceName: input.sourceName,
      },
      { insecure: spec.insecure ?? false, context },
    );
    return { kind: "oci", target, location: pushed.reference };
  }
  if (spec.s3 !== undefined) {
    const uploaded = await uploadToS3(file, spec.s3, {
      env: context.env,
      ...(context.signal !== undefined ? { signal: context.signal } : {}),
    });
    return { kind: "s3", target, location: uploaded.url };
  }
  throw new Error(`publish target ${target} names no kind (the build file check lets none through)`);
}
