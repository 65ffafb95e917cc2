/**
 * The JSON Schema of a build file (draft 2020-12). It is published as
 * schema/gvmconv-build.schema.json (a test keeps that file equal to this object) so that editors
 * can check and complete build files; `loadBuildFile` validates against this very object, so the
 * published schema and the checks cannot drift apart.
 */

const SIZE = {
  anyOf: [
    { type: "integer", minimum: 4096 },
    { type: "string", pattern: "^[0-9]+[KkMm]?$" },
  ],
};
const MODE = { type: "string", pattern: "^0?[0-7]{3,4}$", description: "octal permission bits, e.g. '0644'" };
const ID = { type: "integer", minimum: 0, maximum: 4294967295 };
const STRINGS = { type: "array", items: { type: "string" }, maxItems: 4096 };

const add = {
  type: "object",
  description: "A local directory, file or tar placed at `dest` in the image, as an extra layer.",
  additionalProperties: false,
  required: ["src", "dest"],
  properties: {
    src: { type: "string", minLength: 1, description: "path, relative to the build file" },
    dest: { type: "string", pattern: "^/", description: "absolute path in the image" },
    owner: { ...ID, description: "uid of every entry (default 0, as COPY without --chown)" },
    group: { ...ID, description: "gid of every entry (default 0)" },
    mode: { ...MODE, description: "permission bits of files (default: as on disk)" },
    dirMode: { ...MODE, description: "permission bits of directories (default: as on disk)" },
  },
};

const config = {
  type: "object",
  description: "Runtime config merged over the image's.",
  additionalProperties: false,
  properties: {
    env: {
      anyOf: [
        { type: "array", items: { type: "string", pattern: "^[^=]+=" }, maxItems: 4096 },
        { type: "object", additionalProperties: { type: "string" } },
      ],
      description: "KEY=VALUE items, or a map; replace the image's variables of the same name",
    },
    volumes: { ...STRINGS, items: { type: "string", pattern: "^/" } },
    entrypoint: STRINGS,
    cmd: STRINGS,
    workdir: { type: "string", pattern: "^/" },
    user: { type: "string", minLength: 1, description: "name or uid[:gid], resolved in the image" },
    labels: { type: "object", additionalProperties: { type: "string" } },
  },
};

const output = {
  type: "object",
  additionalProperties: false,
  properties: {
    format: { enum: ["gvmi", "squashfs"], description: "default gvmi" },
    compression: { enum: ["gzip", "xz", "lzo", "lz4"] },
    level: { type: "integer", minimum: 0, maximum: 12 },
    blockSize: SIZE,
    name: {
      type: "string",
      minLength: 1,
      description:
        "file name template: {name} (the image's key), {tag} (the source's tag), {ext} (gvmi or squashfs)",
    },
  },
};

const s3 = {
  type: "object",
  additionalProperties: false,
  required: ["endpoint", "bucket"],
  properties: {
    endpoint: { type: "string", pattern: "^https?://" },
    bucket: { type: "string", minLength: 3, maxLength: 63 },
    prefix: { type: "string" },
    region: { type: "string", description: "default us-east-1" },
    publicUrl: { type: "string", description: "base URL printed for the object (default endpoint/bucket)" },
  },
};

const publish = {
  type: "object",
  description: "One target; exactly one of dir, golem, oci, s3.",
  additionalProperties: false,
  minProperties: 1,
  properties: {
    dir: { type: "string", minLength: 1, description: "a local directory (relative to the build file)" },
    golem: { type: "string", minLength: 1, description: "user/repository:tag in the Golem registry" },
    registryUrl: { type: "string", description: "the Golem registry's URL (default REGISTRY_URL)" },
    oci: { type: "string", minLength: 1, description: "registry/repository:tag for an OCI artifact" },
    insecure: { type: "boolean", description: "plain HTTP to the OCI registry" },
    s3,
    output: { enum: ["gvmi", "squashfs"], description: "which output to publish (default the first)" },
  },
};

const imageProperties = {
  source: { type: "string", minLength: 1, description: "any SOURCE `gvmconv SOURCE` takes" },
  digest: {
    type: "string",
    pattern: "^sha256:[0-9a-f]{64}$",
    description: "the manifest digest the source must resolve to",
  },
  platform: { type: "string", pattern: "^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$" },
  parent: { type: "string", minLength: 1, description: "another image of this file used as the base" },
  add: { type: "array", items: add, maxItems: 256 },
  config,
  outputs: { type: "array", items: output, minItems: 1, maxItems: 2 },
  publish: { type: "array", items: publish, maxItems: 64 },
};

export const BUILD_FILE_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://github.com/golemfactory/gvmconv/schema/gvmconv-build.schema.json",
  title: "gvmconv build file",
  type: "object",
  additionalProperties: false,
  required: ["images"],
  properties: {
    defaults: {
      type: "object",
      additionalProperties: false,
      description: "Applied to each image; an image's own keys win (config is merged key by key).",
      properties: {
        platform: imageProperties.platform,
        config,
        outputs: imageProperties.outputs,
        publish: imageProperties.publish,
      },
    },
    images: {
      type: "object",
      minProperties: 1,
      maxProperties: 1024,
      propertyNames: { pattern: "^[a-z0-9][a-z0-9._-]{0,99}$" },
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: imageProperties,
      },
    },
  },
} as const;
