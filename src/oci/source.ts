/**
 * Source strings as skopeo writes them, plus bare Docker references and image ids:
 *   `alpine`, `my_image:1.0`                 a local engine's image when it has one, else the registry's
 *   `docker://alpine:3.20`                   the registry's image, never a local one
 *   `ec2091313c92`, `sha256:<64 hex>`        an image id (12 or 64 hex): a local engine's image only
 *   `oci:DIR[:REF]`                          an OCI image layout directory
 *   `oci-archive:FILE[:REF]`                 a tar of an OCI layout
 *   `docker-archive:FILE[:REF]`              `docker save` output (REF: a tag or @N)
 *   `docker-daemon:REF`                      an image in the local engine (Docker or Podman), required
 * For the path transports the path ends at the first `:` (as in skopeo); a Windows drive
 * letter (`C:\…`) is not taken for that colon.
 */
import { InvalidReferenceError, InvalidSourceError } from "./errors.js";
import { parseReference, type Reference } from "./reference.js";

export type ImageSource =
  | {
      transport: "docker";
      reference: Reference;
      /** The name as typed, asked of a local engine before the registry; absent for `docker://`. */
      engineName?: string;
    }
  /** A bare image id as typed: only a local engine can have it. */
  | { transport: "image-id"; id: string }
  | { transport: "oci"; path: string; ref: string | undefined }
  | { transport: "oci-archive"; path: string; ref: string | undefined }
  | { transport: "docker-archive"; path: string; ref: string | undefined }
  | { transport: "docker-daemon"; name: string; reference: Reference | undefined };

/** What `docker images` prints (12 hex) and the full id, with or without `sha256:`. */
const IMAGE_ID = /^(?:[a-f0-9]{12}|(?:sha256:)?[a-f0-9]{64})$/;

const PATH_TRANSPORTS = ["oci", "oci-archive", "docker-archive"] as const;

function splitPathRef(rest: string): { path: string; ref: string | undefined } {
  const drive = /^[A-Za-z]:[\\/]/.test(rest) ? 2 : 0;
  const colon = rest.indexOf(":", drive);
  if (colon < 0) return { path: rest, ref: undefined };
  const ref = rest.slice(colon + 1);
  return { path: rest.slice(0, colon), ref: ref === "" ? undefined : ref };
}

export function parseSource(input: string): ImageSource {
  if (input.startsWith("docker://"))
    return { transport: "docker", reference: parseRef(input, input.slice("docker://".length)) };
  for (const t of PATH_TRANSPORTS) {
    if (input.startsWith(`${t}:`)) {
      const { path, ref } = splitPathRef(input.slice(t.length + 1));
      if (path === "") throw new InvalidSourceError(input, `${t}: needs a path`);
      return { transport: t, path, ref };
    }
  }
  if (input.startsWith("docker-daemon:")) {
    const name = input.slice("docker-daemon:".length);
    if (name === "") throw new InvalidSourceError(input, "docker-daemon: needs an image name or id");
    if (IMAGE_ID.test(name)) return { transport: "docker-daemon", name, reference: undefined };
    const reference = parseRef(input, name);
    return { transport: "docker-daemon", name: reference.familiar, reference };
  }
  // Other skopeo transports: say so rather than read `dir:x` as the Docker Hub image `dir:x`.
  const other = /^(dir|containers-storage|ostree|sif|tarball|docker):/.exec(input);
  if (other !== null)
    throw new InvalidSourceError(
      input,
      `the ${other[1]}: transport is not supported${other[1] === "docker" ? " (write docker://REF)" : ""}`,
    );
  // An id is never a registry name: `library/<hex>` on Docker Hub would be someone else's image.
  if (IMAGE_ID.test(input)) return { transport: "image-id", id: input };
  return { transport: "docker", reference: parseRef(input, input), engineName: input };
}

function parseRef(source: string, ref: string): Reference {
  try {
    return parseReference(ref);
  } catch (err) {
    if (err instanceof InvalidReferenceError) {
      throw new InvalidSourceError(source, err.message, { hint: err.hint, cause: err });
    }
    throw err;
  }
}
