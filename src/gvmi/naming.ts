/**
 * Default output file name, as gvmkit-build-rs names it (src/image/builder.rs):
 * `format!("{}-{}-{}.gvmi", base_name.replace('/', "-"), tag, &image_id[0..10])`, where base_name is
 * `[user/]repository` of the name the user typed (no registry host in its name grammar) and the
 * image id is the hex after `sha256:`.
 */
import { GvmiImageIdError } from "./errors.js";

export interface OutputNameParts {
  /** Repository path as typed, e.g. `golem/examples-blender` or `library/alpine`. */
  repository: string;
  /** Tag; `latest` when none was given. Digest references have no tag: pass e.g. the short digest. */
  tag: string;
  /** Image id, `sha256:<64 hex>`. */
  imageId: string;
}

/**
 * `<repository with every '/' → '-'>-<tag>-<first 10 hex of the image id>.gvmi`. Characters a file
 * name cannot hold on Windows (`:` from a registry port, `\`, …) become `-` too; the incumbent's
 * name grammar never let them through.
 */
export function defaultOutputName(parts: OutputNameParts): string {
  const match = /^sha256:([0-9a-f]{64})$/.exec(parts.imageId);
  if (!match) throw new GvmiImageIdError(parts.imageId);
  const safe = (s: string) => s.replace(/[/\\:*?"<>|\s]/g, "-");
  return `${safe(parts.repository)}-${safe(parts.tag)}-${match[1]!.slice(0, 10)}.gvmi`;
}
