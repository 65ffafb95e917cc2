/**
 * Conformance with peers' own test fixtures (test/fixtures/conformance, origins in its NOTES.md):
 * go-containerregistry's layouts and `docker save` tarballs, containers/image's layouts and
 * archive, regclient's multi-platform test repository, and the OCI image-spec's invalid schema
 * documents placed where gvmconv really reads them (an index.json, a manifest blob, a config
 * blob, an oci-layout file).
 *
 * Every case the peer treats as a valid image is converted to a .gvmi, extracted with the real
 * `unsquashfs` and walked independently; the oracle is `skopeo copy` (which also picks the
 * platform) then `umoci unpack --rootless`, walked the same way. Compared: names, types, modes,
 * owners (umoci --rootless records them in `user.rootlesscontainers`), sizes, content hashes,
 * symlink targets, hard-link groups, xattrs and file mtimes. The deliberate differences are in
 * DELIBERATE below, and only those are excluded. Every invalid case is run through the CLI and
 * must fail with exactly one coded line (no stack), the code asserted, nothing left at -o.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { convert } from "../../src/index.js";
import { hermeticEnv, skopeo, tmp } from "../oci/helpers.js";
import { assertSameTree, cli, comparable, missingTools, repoRoot, run, unsquashfs, walk } from "./support.js";

const skip = missingTools("skopeo", "umoci", "unsquashfs", "python3");
const FIXTURES = join(repoRoot, "test", "fixtures", "conformance");
const fx = (...parts: string[]): string => join(FIXTURES, ...parts);

/**
 * The differences from umoci's tree that gvmconv makes on purpose, the one place they are listed:
 * - MOUNT_POINTS: what a Golem VM's init mounts on and a container export carries, added only
 *   where the image lacks them (src/gvmi/mount-points.ts); each one gvmconv reports adding
 *   (`result.addedMountPoints`) must be in this list and absent from umoci's tree, and only those
 *   are removed from ours before comparing;
 * - directory mtimes: umoci sets them from the tar headers but the walk cannot tell them from
 *   the time its own later writes left; file mtimes are compared (no fixture's mtime is outside
 *   SquashFS's u32 range, so none is clamped; a clamp would warn, and warnings are asserted).
 */
const MOUNT_POINTS = [
  "/.dockerenv",
  "/dev",
  "/dev/console",
  "/dev/pts",
  "/dev/shm",
  "/etc",
  "/etc/hostname",
  "/etc/hosts",
  "/etc/mtab",
  "/etc/resolv.conf",
  "/proc",
  "/sys",
  "/tmp",
];
const DELIBERATE = "added mount points, directory mtimes";

interface ValidCase {
  name: string;
  /** The source; a function when the case's layout is built in `work` first. */
  source: string | ((work: string) => Promise<string>);
  /** `convert`'s platform; default linux/amd64. */
  platform?: string;
  /** The warnings (other than the runtime config's W_GVMI_*) expected, as `CODE: message` patterns. */
  warns?: RegExp[];
  /**
   * The oracle: skopeo's source and extra `skopeo copy` arguments (platform choice); `raw` for
   * `umoci raw unpack`, the same rootfs unpack without the runtime config.json, which umoci
   * cannot generate for a config without an os. `sameSource`: skopeo reads what gvmconv read.
   */
  oracle: { source: string; args?: string[]; raw?: boolean } | { sameImageAs: string } | { sameSource: true };
}

const layout = (dir: string, tag?: string): string => `oci:${dir}${tag === undefined ? "" : `:${tag}`}`;
const archive = (file: string, ref?: string): string =>
  `docker-archive:${file}${ref === undefined ? "" : `:${ref}`}`;
const same = (source: string, args?: string[], raw?: boolean): ValidCase["oracle"] => ({
  source,
  args,
  raw,
});

const GCR_INDEX = fx("gcr", "layout", "test_index");
const RC = fx("regclient", "testrepo");
const TARBALL = (n: string): string => fx("gcr", "tarball", `${n}.tar`);
const MUTATE = (n: string): string => fx("gcr", "mutate", `${n}.tar`);

const VALID: ValidCase[] = [
  {
    name: "gcr layout test_index_one_image (OCI manifest, gzip layer, no ref name)",
    source: layout(fx("gcr", "layout", "test_index_one_image")),
    oracle: same(layout(fx("gcr", "layout", "test_index_one_image"))),
  },
  {
    name: "gcr tarball test_image_1 (docker save, one image)",
    source: archive(TARBALL("test_image_1")),
    oracle: same(archive(TARBALL("test_image_1"))),
  },
  {
    // A Docker schema-2 manifest behind an OCI-manifest descriptor: skopeo keeps the Docker media
    // type and umoci refuses it, so the oracle is the same image (config digest asserted equal)
    // from test_image_1.
    name: "gcr layout test_index:1 (Docker manifest behind an OCI descriptor)",
    source: layout(GCR_INDEX, "1"),
    oracle: { sameImageAs: "gcr tarball test_image_1 (docker save, one image)" },
  },
  {
    name: "gcr layout test_index:3 (an index inside the index)",
    source: layout(GCR_INDEX, "3"),
    oracle: { sameImageAs: "gcr tarball test_image_1 (docker save, one image)" },
  },
  {
    // skopeo 1.9 does not look past an index.json entry of a Docker list type; go-containerregistry
    // (and gvmconv) read it.
    name: "gcr layout test_index:4 (a Docker manifest list inside an OCI index)",
    source: layout(GCR_INDEX, "4"),
    oracle: { sameImageAs: "gcr tarball test_image_1 (docker save, one image)" },
  },
  {
    name: "gcr tarball hello-world-v25 (Docker 25 save: an OCI layout with manifest.json)",
    source: archive(TARBALL("hello-world-v25")),
    platform: "linux/arm64",
    oracle: same(archive(TARBALL("hello-world-v25"))),
  },
  {
    name: "gcr tarball test_bundle:test_image_2 (two images, chosen by tag)",
    source: archive(TARBALL("test_bundle"), "test_image_2"),
    oracle: same(archive(TARBALL("test_bundle"), "@0")),
  },
  {
    name: "gcr tarball test_bundle:test_image_1:latest (two images, chosen by tag)",
    source: archive(TARBALL("test_bundle"), "test_image_1:latest"),
    oracle: same(archive(TARBALL("test_bundle"), "@1")),
  },
  {
    name: "gcr tarball test_link (a layer stored as a symlink to another image's layer)",
    source: archive(TARBALL("test_link"), "bazel/v1/tarball:test_image_3"),
    oracle: same(archive(TARBALL("test_link"), "bazel/v1/tarball:test_image_3")),
  },
  {
    // The second layer is a Docker foreign (non-distributable) layer, carried in the archive;
    // the config's os and architecture are empty, so only `umoci raw unpack` takes it.
    name: "gcr tarball foreign (a foreign layer inside the archive)",
    source: archive(TARBALL("foreign")),
    oracle: same(archive(TARBALL("foreign")), [], true),
    warns: [/^W_OCI_PLATFORM_MISMATCH: asked for linux\/amd64 but the image names no platform/],
  },
  {
    name: "gcr mutate overwritten_file (three layers rewriting one file)",
    source: archive(MUTATE("overwritten_file")),
    oracle: same(archive(MUTATE("overwritten_file"))),
  },
  {
    name: "gcr mutate whiteout_image (a file whiteout)",
    source: archive(MUTATE("whiteout_image")),
    oracle: same(archive(MUTATE("whiteout_image"))),
  },
  {
    name: "gcr mutate whiteout_dir (a directory whiteout; gzip layers named *.tar.gz)",
    source: archive(MUTATE("whiteout_dir")),
    oracle: same(archive(MUTATE("whiteout_dir"))),
  },
  {
    name: "gcr mutate source_image_with_empty_layer_history",
    source: archive(MUTATE("source_image_with_empty_layer_history")),
    oracle: same(archive(MUTATE("source_image_with_empty_layer_history"))),
  },
  {
    name: "containers/image docker-archive almostempty",
    source: archive(fx("containers-image", "docker-archive", "almostempty.tar")),
    oracle: same(archive(fx("containers-image", "docker-archive", "almostempty.tar"))),
  },
  ...["b1", "b2", "b3", "v1", "v2", "v3"].map((tag): ValidCase => ({
    name: `regclient testrepo:${tag} (multi-platform index) linux/amd64`,
    source: layout(RC, tag),
    oracle: same(layout(RC, tag)),
  })),
  {
    // The same layout as an OCI archive (tarred here): a tag chosen among artifacts and referrers.
    name: "regclient testrepo as an oci-archive, :v2",
    source: async (work) => {
      const file = join(work, "regclient-testrepo.oci.tar");
      run("tar", ["-C", RC, "-cf", file, "."]);
      return `oci-archive:${file}:v2`;
    },
    oracle: { sameSource: true },
  },
  {
    name: "regclient testrepo:v3 linux/arm64",
    source: layout(RC, "v3"),
    platform: "linux/arm64",
    oracle: same(layout(RC, "v3"), ["--override-arch", "arm64"]),
  },
  {
    name: "regclient testrepo:v3 linux/arm/v7",
    source: layout(RC, "v3"),
    platform: "linux/arm/v7",
    oracle: same(layout(RC, "v3"), ["--override-arch", "arm", "--override-variant", "v7"]),
  },
  {
    name: "regclient testrepo:b3 linux/arm/v6",
    source: layout(RC, "b3"),
    platform: "linux/arm/v6",
    oracle: same(layout(RC, "b3"), ["--override-arch", "arm", "--override-variant", "v6"]),
  },
  {
    // image-spec's invalid oci-layout document (`"imageLayoutVersion": 1.0.0`, not JSON) beside a
    // good index.json: skopeo and go-containerregistry ignore the file's content and so does
    // gvmconv; umoci refuses the layout, so the oracle is the same image without it.
    name: "image-spec oci-layout not JSON, tolerated as skopeo does",
    source: async (work) => {
      const dir = join(work, "spec", "layout-version-unquoted");
      await cp(fx("gcr", "layout", "test_index_one_image"), dir, { recursive: true });
      await cp(fx("image-spec", "layout-version-unquoted.json"), join(dir, "oci-layout"));
      return layout(dir);
    },
    oracle: { sameImageAs: "gcr layout test_index_one_image (OCI manifest, gzip layer, no ref name)" },
  },
];

interface InvalidCase {
  name: string;
  /** The source; a function when the case's layout is built in `work` first. */
  source: string | ((work: string) => Promise<string>);
  code: string;
  /** What the error line must name: the defect that stopped the run. */
  names: RegExp;
}

/** The layer whose diff_id the image-spec config documents name: 1024 zero bytes (an empty tar). */
const EMPTY_TAR = Buffer.alloc(1024);
const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** An OCI layout in `dir` from raw blobs; index.json names `manifest` as tag `t`. */
async function rawLayout(
  dir: string,
  parts: { manifest: Buffer | string; blobs?: (Buffer | string)[]; ociLayout?: string },
): Promise<string> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const blob of [parts.manifest, ...(parts.blobs ?? [])]) {
    await writeFile(join(dir, "blobs", "sha256", sha256(blob)), blob);
  }
  await writeFile(join(dir, "oci-layout"), parts.ociLayout ?? '{"imageLayoutVersion":"1.0.0"}');
  const manifest = Buffer.from(parts.manifest);
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: `sha256:${sha256(manifest)}`,
        size: manifest.length,
        annotations: { "org.opencontainers.image.ref.name": "t" },
      },
    ],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
  return layout(dir, "t");
}

const specDoc = async (name: string): Promise<Buffer> => await readFile(fx("image-spec", `${name}.json`));

/** An image-spec manifest document as the manifest blob of a layout. */
const specManifest =
  (name: string) =>
  async (work: string): Promise<string> =>
    await rawLayout(join(work, "spec", name), { manifest: await specDoc(name) });

/** An image-spec index document as a layout's index.json (its entries name absent blobs). */
const specIndex =
  (name: string) =>
  async (work: string): Promise<string> => {
    const dir = join(work, "spec", name);
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, "index.json"), await specDoc(name));
    return layout(dir);
  };

/** An image-spec config document as the config of a real image (one empty layer, its diff_id). */
const specConfig =
  (name: string) =>
  async (work: string): Promise<string> => {
    const config = await specDoc(name);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${sha256(config)}`,
        size: config.length,
      },
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.v1.tar",
          digest: `sha256:${sha256(EMPTY_TAR)}`,
          size: EMPTY_TAR.length,
        },
      ],
    });
    return await rawLayout(join(work, "spec", name), { manifest, blobs: [config, EMPTY_TAR] });
  };

/**
 * Where a document's own defect is a field gvmconv does not read (a `subject`, an index entry's
 * `mediaType`, the config descriptor's `mediaType`: gvmconv goes by the content, as
 * go-containerregistry does), what stops it is the next thing it needs: the blob the document
 * names, which no image-spec document comes with. Those cases assert that refusal.
 */
const INVALID: InvalidCase[] = [
  // go-containerregistry: the cases its own tests expect to fail.
  {
    name: "gcr tarball no_manifest",
    source: archive(TARBALL("no_manifest")),
    code: "E_OCI_LOCAL_SOURCE",
    names: /no manifest\.json/,
  },
  {
    name: "gcr tarball null_manifest",
    source: archive(TARBALL("null_manifest")),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest\.json is not a list/,
  },
  {
    name: "gcr layout test_gc_image_unknown_mediatype (manifest blob missing)",
    source: layout(fx("gcr", "layout", "test_gc_image_unknown_mediatype")),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:32589985\w+ is missing/,
  },
  {
    // skopeo refuses it too ("no descriptor found"); the blob's own mediaType is the descriptor one.
    name: "gcr layout test_index:2 (a descriptor's media type as a manifest's)",
    source: layout(GCR_INDEX, "2"),
    code: "E_OCI_UNSUPPORTED_MEDIA_TYPE",
    names: /application\/vnd\.oci\.descriptor\.v1\+json/,
  },
  {
    // umoci refuses it too (config media type).
    name: "gcr layout test_index_media_type (a Helm chart, not an image)",
    source: layout(fx("gcr", "layout", "test_index_media_type")),
    code: "E_OCI_UNSUPPORTED_MEDIA_TYPE",
    names: /application\/tar\+gzip.*not a container image/,
  },
  // containers/image: layouts its tests use for other things, none a convertible image.
  {
    name: "containers/image oci-layout manifest (the manifest blob is absent)",
    source: layout(fx("containers-image", "oci-layout", "manifest"), "v0.1.1"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:84afb618\w+ is missing/,
  },
  {
    name: "containers/image oci-layout name_lookups:invalid-mime (media type x-completely-unknown, no blob)",
    source: layout(fx("containers-image", "oci-layout", "name_lookups"), "invalid-mime"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:e{64} is missing/,
  },
  {
    name: "containers/image oci-layout delete_image_only_one_image (the layer is placeholder text)",
    source: layout(fx("containers-image", "oci-layout", "delete_image_only_one_image"), "latest"),
    code: "E_OCI_DIFF_ID_MISMATCH",
    names: /layer 0: uncompressed content hashes to sha256:0c8b2636/,
  },
  {
    name: "containers/image oci-layout delete_image_shared_blobs_dir (blobs outside blobs/)",
    source: layout(fx("containers-image", "oci-layout", "delete_image_shared_blobs_dir"), "latest"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:eaa95f3c\w+ is missing/,
  },
  // regclient: artifacts (SBOMs, signatures, referrers) in the test repository, not images;
  // umoci refuses each of them too.
  ...["a1", "a2", "a-docker", "child", "loop", "mirror"].map((tag): InvalidCase => ({
    name: `regclient testrepo:${tag} (an artifact)`,
    source: layout(RC, tag),
    code: "E_OCI_UNSUPPORTED_MEDIA_TYPE",
    names: /not a container image/,
  })),
  // image-spec: schema documents its tests expect to fail, where gvmconv reads them.
  {
    name: "image-spec manifest: config media type 'invalid' (refused at its absent config)",
    source: specManifest("manifest-config-mediatype-invalid"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /config sha256:c86f7763\w+ is missing/,
  },
  {
    name: "image-spec manifest: malformed JSON",
    source: specManifest("manifest-malformed-json"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /not valid JSON/,
  },
  {
    name: "image-spec manifest: layer size a string",
    source: specManifest("manifest-layer-size-string"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /size is a string/,
  },
  {
    name: "image-spec manifest: subject a string (refused at its absent config)",
    source: specManifest("manifest-subject-string"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /config sha256:c86f7763\w+ is missing/,
  },
  {
    name: "image-spec manifest: digest algorithms 'sha256+b64', 'sha256+foo+-b'",
    source: specManifest("manifest-digest-algorithm-invalid"),
    code: "E_OCI_INVALID_DIGEST",
    names: /unsupported algorithm "sha256\+b64"/,
  },
  {
    name: "image-spec index: size a string",
    source: specIndex("index-size-string"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /index entry 0 size is a string/,
  },
  {
    name: "image-spec index: digest missing",
    source: specIndex("index-digest-missing"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /index entry 0 digest is missing/,
  },
  {
    name: "image-spec index: platform without architecture",
    source: specIndex("index-platform-no-architecture"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /index entry 0 platform\.architecture is missing/,
  },
  {
    name: "image-spec index: media type 'invalid' (refused at its absent manifest)",
    source: specIndex("index-mediatype-invalid"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:5b0bcabd\w+ is missing/,
  },
  {
    name: "image-spec index: media type empty (refused at its absent manifest)",
    source: specIndex("index-mediatype-empty"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:5b0bcabd\w+ is missing/,
  },
  {
    name: "image-spec index: subject a string (refused at its absent manifest)",
    source: specIndex("index-subject-string"),
    code: "E_OCI_LOCAL_SOURCE",
    names: /manifest sha256:5b0bcabd\w+ is missing/,
  },
  {
    name: "image-spec config: os a number",
    source: specConfig("config-os-number"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /image config os is a number/,
  },
  {
    name: "image-spec config: variant a number",
    source: specConfig("config-variant-number"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /image config variant is a number/,
  },
  {
    // Read when the runtime config is built, after the tree: refused late, but refused.
    name: "image-spec config: User a number",
    source: specConfig("config-user-number"),
    code: "E_GVMI_CONFIG",
    names: /User is not a string/,
  },
  {
    // The image-spec documents for history, Env and Volumes also carry `"os": 123`, which is
    // what gvmconv finds first.
    name: "image-spec config: history a string (and os a number)",
    source: specConfig("config-history-string"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /image config os is a number/,
  },
  {
    name: "image-spec config: an Env entry a number (and os a number)",
    source: specConfig("config-env-number"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /image config os is a number/,
  },
  {
    name: "image-spec config: Volumes an array (and os a number)",
    source: specConfig("config-volumes-array"),
    code: "E_OCI_INVALID_MANIFEST",
    names: /image config os is a number/,
  },
];

let work: string;
let env: NodeJS.ProcessEnv;
let counter = 0;
const converted = new Map<string, { imageId: string; tree: Map<string, Record<string, unknown>> }>();

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-conformance-");
  env = hermeticEnv(work);
  await mkdir(join(work, "out"));
});

after(async () => {
  if (skip) return;
  await rm(work, { recursive: true, force: true });
});

const everyXattr = (): boolean => true;

/** umoci's tree for a source: skopeo copy into a fresh layout (choosing the platform), then unpack. */
async function oracleTree(
  source: string,
  args: string[],
  raw: boolean,
): Promise<Map<string, Record<string, unknown>>> {
  const dir = join(work, `oracle-${counter++}`);
  await mkdir(dir);
  await skopeo("copy", "-q", ...args, source, `oci:${join(dir, "layout")}:t`);
  const image = ["--rootless", "--image", `${join(dir, "layout")}:t`];
  const rootfs = join(dir, "bundle", "rootfs");
  await mkdir(join(dir, "bundle"));
  if (raw) run("umoci", ["raw", "unpack", ...image, rootfs]);
  else run("umoci", ["unpack", ...image, join(dir, "bundle")]);
  return comparable(walk(rootfs), { owners: "rootless", xattrs: everyXattr, mtime: true });
}

for (const c of VALID) {
  test(`valid: ${c.name}`, { skip }, async () => {
    const name = `v${counter++}`;
    const source = typeof c.source === "string" ? c.source : await c.source(work);
    const result = await convert(source, {
      output: join(work, "out", `${name}.gvmi`),
      image: { cacheDir: join(work, `cache-${name}`), ...(c.platform ? { platform: c.platform } : {}) },
      env,
    });
    // The runtime-config advice (no VOLUME, USER dropped) is expected; nothing about the tree.
    const others = result.warnings.filter((w) => !w.code.startsWith("W_GVMI_"));
    const expected = c.warns ?? [];
    assert.equal(others.length, expected.length, `warnings: ${JSON.stringify(others)}`);
    others.forEach((w, i) => assert.match(`${w.code}: ${w.message}`, expected[i] ?? /^$/));
    unsquashfs(result.outputPath, join(work, "x", name));
    const ours = comparable(walk(join(work, "x", name)), { owners: "stat", xattrs: everyXattr, mtime: true });

    let theirs: Map<string, Record<string, unknown>>;
    if ("sameImageAs" in c.oracle) {
      const other = converted.get(c.oracle.sameImageAs);
      assert.ok(other, `${c.oracle.sameImageAs} runs first`);
      assert.equal(result.imageId, other.imageId, "the same image (config digest)");
      theirs = other.tree;
    } else if ("sameSource" in c.oracle) {
      theirs = await oracleTree(source, [], false);
    } else {
      theirs = await oracleTree(c.oracle.source, c.oracle.args ?? [], c.oracle.raw === true);
    }
    for (const m of result.addedMountPoints) {
      assert.ok(MOUNT_POINTS.includes(m), `${m} is a listed mount point`);
      assert.equal(theirs.has(m.slice(1)), false, `${m} is added only where the image lacks it`);
      ours.delete(m.slice(1));
    }
    assertSameTree(ours, theirs, `${c.name} (deliberate differences: ${DELIBERATE})`);
    assert.ok(theirs.size > 1, "the image has content");
    converted.set(c.name, { imageId: result.imageId, tree: theirs });
  });
}

for (const c of INVALID) {
  test(`invalid: ${c.name} → ${c.code}`, { skip }, async () => {
    const source = typeof c.source === "string" ? c.source : await c.source(work);
    const name = `i${counter++}`;
    const out = join(work, "out", `${name}.gvmi`);
    const r = await cli(
      [source, "-o", out, "--cache-dir", join(work, `cache-${name}`), "--hide-progress"],
      env,
    );
    assert.equal(r.code, 1, `exit status; stderr:\n${r.stderr}`);
    // Refused before any work: no notice (mount points added) first. Only the runtime-config
    // advice (no VOLUME, USER dropped), which is given before any layer is read, may come before.
    const lines = r.stderr
      .split("\n")
      .filter((l) => l !== "" && !/^gvmconv: warning \[W_GVMI_[A-Z_]+\]: /.test(l));
    assert.equal(lines.length, 1, `one line, the error:\n${r.stderr}`);
    const line = lines[0] ?? "";
    assert.match(line, /^gvmconv: error \[E_[A-Z0-9_]+\]: \S/, "a coded line");
    assert.equal(/\[(E_[A-Z0-9_]+)\]/.exec(line)?.[1], c.code, line);
    assert.match(line, c.names, "names the defect");
    assert.match(line, / — \S/, "says what to do");
    assert.doesNotMatch(
      r.stderr,
      /^\s+at |E_\w*INTERNAL|TypeError|undefined/m,
      "no stack, no internal error",
    );
    assert.equal(existsSync(out), false, "nothing at -o");
  });
}
