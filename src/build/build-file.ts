/**
 * Reading a build file: YAML (or JSON, which YAML 1.2 contains) parsed by `yaml` with a
 * LineCounter, so that every complaint names `file:line:column`; checked against the published
 * schema (schema.ts) by ajv, then for what a schema cannot say (an image needs a source or a
 * parent, parents must exist and not form a cycle).
 */
import { readFile } from "node:fs/promises";
import { lazyModule } from "../lazy-module.js";
import type { Ajv2020, ErrorObject } from "ajv/dist/2020.js";
import type { Document } from "yaml";
import { GvmconvError } from "../errors.js";
import { BUILD_FILE_SCHEMA } from "./schema.js";

/**
 * yaml and ajv load on first use, synchronously (both are CommonJS): together ~170 ms of start-up
 * that every other command paid, since the library's entry point imports this module.
 */
const yaml = lazyModule<typeof import("yaml")>("yaml");
const ajv2020 = lazyModule<typeof import("ajv/dist/2020.js")>("ajv/dist/2020.js");

export interface AddSpec {
  src: string;
  dest: string;
  owner?: number;
  group?: number;
  mode?: string;
  dirMode?: string;
}

export interface ConfigSpec {
  env?: string[] | Record<string, string>;
  volumes?: string[];
  entrypoint?: string[];
  cmd?: string[];
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
}

export interface OutputSpec {
  format?: "gvmi" | "squashfs";
  compression?: "gzip" | "xz" | "lzo" | "lz4";
  level?: number;
  blockSize?: number | string;
  name?: string;
}

export interface S3Spec {
  endpoint: string;
  bucket: string;
  prefix?: string;
  region?: string;
  publicUrl?: string;
}

export interface PublishSpec {
  dir?: string;
  golem?: string;
  registryUrl?: string;
  oci?: string;
  insecure?: boolean;
  s3?: S3Spec;
  output?: "gvmi" | "squashfs";
}

export interface ImageSpec {
  source?: string;
  digest?: string;
  platform?: string;
  parent?: string;
  add?: AddSpec[];
  config?: ConfigSpec;
  outputs?: OutputSpec[];
  publish?: PublishSpec[];
}

export interface BuildFileSpec {
  defaults?: Pick<ImageSpec, "platform" | "config" | "outputs" | "publish">;
  images: Record<string, ImageSpec>;
}

/** The build file is missing, unreadable, not YAML/JSON, or wrong; `where` is `file:line:column`. */
export class BuildFileError extends GvmconvError {
  readonly where: string;
  constructor(where: string, message: string, hint: string, cause?: unknown) {
    super("E_BUILD_FILE", `${where}: ${message}`, { hint, cause });
    this.where = where;
  }
}

/** Where a path of the document is: `file:line:column`, or the file alone when unknown. */
type Locate = (path: readonly (string | number)[], key?: boolean) => string;

let validator: ReturnType<Ajv2020["compile"]> | undefined;
function validate(value: unknown): ErrorObject[] {
  if (validator === undefined) {
    validator = new (ajv2020().Ajv2020)({ allErrors: false, strict: true, verbose: true }).compile(
      BUILD_FILE_SCHEMA,
    );
  }
  return validator(value) ? [] : (validator.errors ?? []);
}

/** Reads and checks the build file at `path`. */
export async function loadBuildFile(path: string): Promise<BuildFileSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new BuildFileError(
      path,
      missing ? "no such build file" : `cannot read the build file: ${(err as Error).message}`,
      missing ? "give the build file's path, or run in the directory holding gvmconv.yaml" : "",
      err,
    );
  }
  return parseBuildFile(text, path);
}

/** Parses and checks build-file text; `name` is used in error positions. */
export function parseBuildFile(text: string, name: string): BuildFileSpec {
  const lines = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    const { line, col } = lines.linePos(firstError.pos[0]);
    throw new BuildFileError(
      `${name}:${line}:${col}`,
      `not valid YAML: ${firstError.message.split("\n")[0] ?? ""}`,
      "fix the syntax at that position (YAML or JSON)",
    );
  }
  const locate: Locate = (path, key = false) => {
    const node = nodeAt(doc, path, key);
    if (node === undefined) return name;
    const { line, col } = lines.linePos(node);
    return `${name}:${line}:${col}`;
  };
  return checkBuildFile(doc.toJS({ maxAliasCount: 100 }) as unknown, locate);
}

/** Checks a build file given as an object (the library's `build(object)`); positions are key paths. */
export function checkBuildObject(value: unknown, name = "build object"): BuildFileSpec {
  return checkBuildFile(value, (path) => (path.length === 0 ? name : `${name} at ${dotted(path)}`));
}

function checkBuildFile(value: unknown, locate: Locate): BuildFileSpec {
  const errors = validate(value);
  const error = errors[0];
  if (error !== undefined) {
    const path = pointer(error.instancePath);
    const { message, hint, at, key } = explain(error, path);
    throw new BuildFileError(locate(at, key), message, hint);
  }
  const spec = value as BuildFileSpec;
  for (const [name, image] of Object.entries(spec.images)) {
    const at = ["images", name];
    if (image.source === undefined && image.parent === undefined) {
      throw new BuildFileError(
        locate(at),
        `image ${name} has neither a source nor a parent`,
        "add `source: REF` or `parent: NAME`",
      );
    }
    if (image.source !== undefined && image.parent !== undefined) {
      throw new BuildFileError(
        locate([...at, "parent"]),
        `image ${name} has both a source and a parent`,
        "a child image takes its source from its parent: remove one of the two",
      );
    }
    if (image.parent !== undefined && (image.digest !== undefined || image.platform !== undefined)) {
      throw new BuildFileError(
        locate([...at, image.digest !== undefined ? "digest" : "platform"]),
        `image ${name} has a parent, so its digest and platform are its parent's`,
        "set them on the parent image",
      );
    }
    if (image.parent !== undefined && !(image.parent in spec.images)) {
      throw new BuildFileError(
        locate([...at, "parent"]),
        `image ${name} names a parent ${JSON.stringify(image.parent)} that the file does not define`,
        `use one of: ${Object.keys(spec.images).join(", ")}`,
      );
    }
    const formats = (image.outputs ?? []).map((o) => o.format ?? "gvmi");
    if (new Set(formats).size !== formats.length) {
      throw new BuildFileError(
        locate([...at, "outputs"]),
        `image ${name} lists the same output format twice`,
        "keep one gvmi and/or one squashfs output",
      );
    }
    for (const [i, target] of (image.publish ?? []).entries()) {
      const kinds = (["dir", "golem", "oci", "s3"] as const).filter((k) => target[k] !== undefined);
      if (kinds.length !== 1) {
        throw new BuildFileError(
          locate([...at, "publish", i]),
          kinds.length === 0
            ? "a publish target names no kind"
            : `a publish target names ${kinds.join(" and ")}`,
          "give exactly one of dir, golem, oci, s3 per list item",
        );
      }
    }
  }
  // Cycles: follow each chain; a chain longer than the number of images has looped.
  for (const name of Object.keys(spec.images)) {
    const seen = new Set<string>();
    for (let n: string | undefined = name; n !== undefined; n = spec.images[n]?.parent) {
      if (seen.has(n)) {
        throw new BuildFileError(
          locate(["images", name, "parent"]),
          `the parents of image ${name} form a cycle: ${[...seen, n].join(" → ")}`,
          "one image of the chain must have a source instead of a parent",
        );
      }
      seen.add(n);
    }
  }
  return spec;
}

function pointer(instancePath: string): string[] {
  if (instancePath === "") return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function dotted(path: readonly (string | number)[]): string {
  return path
    .map((p, i) => (typeof p === "number" || /^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join("");
}

/** One ajv error as a sentence, the fix, and the path to point at. */
function explain(
  error: ErrorObject,
  path: string[],
): { message: string; hint: string; at: string[]; key?: boolean } {
  if (error.propertyName !== undefined) {
    return {
      message: `image name ${JSON.stringify(error.propertyName)} is not allowed`,
      hint: "image names are lowercase letters, digits, '.', '_' and '-', starting with a letter or digit",
      at: [...path, error.propertyName],
      key: true,
    };
  }
  const what = path.length === 0 ? "the file" : dotted(path);
  const p = error.params as Record<string, unknown>;
  const allowed = (error.parentSchema as { properties?: object } | undefined)?.properties;
  switch (error.keyword) {
    case "additionalProperties":
      return {
        message: `${what} has an unknown key ${JSON.stringify(p["additionalProperty"])}`,
        hint: allowed ? `allowed keys: ${Object.keys(allowed).join(", ")}` : "remove it",
        at: [...path, String(p["additionalProperty"])],
        key: true,
      };
    case "required":
      return {
        message: `${what} lacks the key ${JSON.stringify(p["missingProperty"])}`,
        hint: `add ${String(p["missingProperty"])}`,
        at: path,
      };
    case "enum":
      return {
        message: `${what} must be one of ${(p["allowedValues"] as unknown[]).join(", ")}`,
        hint: "use one of those values",
        at: path,
      };
    case "propertyNames":
      return {
        message: `image name ${JSON.stringify(p["propertyName"])} is not allowed`,
        hint: "image names are lowercase letters, digits, '.', '_' and '-', starting with a letter or digit",
        at: [...path, String(p["propertyName"])],
      };
    case "pattern": {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return {
        message: `${what} ${error.message ?? "is malformed"}`,
        hint: description ?? "see schema/gvmconv-build.schema.json",
        at: path,
      };
    }
    default:
      return {
        message: `${what} ${error.message ?? "is not valid"}`,
        hint: "see schema/gvmconv-build.schema.json",
        at: path,
      };
  }
}

/** The offset of the node at `path` (the key's for a missing one, the parent's as a fallback). */
function nodeAt(doc: Document, path: readonly (string | number)[], key: boolean): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const prefix = path.slice(0, n).map((p) => (typeof p === "string" && /^\d+$/.test(p) ? Number(p) : p));
    const node = prefix.length === 0 ? doc.contents : doc.getIn(prefix, true);
    if (!(key && n === path.length) && yaml().isNode(node) && node.range) return node.range[0];
    // A key without a usable value node: point at the key.
    if (prefix.length > 0) {
      const parent = prefix.length === 1 ? doc.contents : doc.getIn(prefix.slice(0, -1), true);
      const items = (parent as { items?: { key?: unknown }[] } | null)?.items;
      const pair = items?.find(
        (it) => yaml().isNode(it.key) && (it.key as { value?: unknown }).value === prefix.at(-1),
      );
      if (pair && yaml().isNode(pair.key) && pair.key.range) return pair.key.range[0];
    }
  }
  return undefined;
}
