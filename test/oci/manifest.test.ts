/**
 * Manifests, indexes and configs as they occur in the wild (issue 13): the image-spec's own
 * examples and containers/image's fixtures (test/fixtures/oci-manifests/NOTES.md) select the
 * manifest the specs and containers/image select; hostile variants of them (every field given every wrong
 * JSON type, nesting past the bound, cycles, empty indexes) give one coded error, never a
 * TypeError. No outside program: part of `npm run test:unit`. The end-to-end cases are in
 * manifest-e2e.test.ts.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the hostile cases mutate parsed JSON by path */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isGvmconvError } from "../../src/index.js";
import { buildContainerConfig } from "../../src/gvmi/container-config.js";
import {
  MAX_INDEX_DEPTH,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  rankPlatforms,
  resolveManifest,
  selectPlatform,
  type ImageIndex,
  type ImageManifest,
} from "../../src/oci/manifest.js";

const FIXTURES = new URL("../../../test/fixtures/oci-manifests/", import.meta.url).pathname;
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const index = (name: string): ImageIndex => {
  const m = parseManifest(fixture(name), undefined);
  assert.equal(m.kind, "index", name);
  return m as ImageIndex;
};
const d = (c: string): string => `sha256:${c.repeat(64)}`;

/** [fixture, platform asked for, digest expected, or the error code expected]. */
const SELECTIONS: [string, string, string][] = [
  [
    "spec-image-index-example1.json",
    "linux/amd64",
    "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
  ],
  [
    "spec-image-index-example1.json",
    "linux/ppc64le",
    "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
  ],
  ["spec-image-index-example1.json", "linux/arm/v7", "E_OCI_NO_MATCHING_PLATFORM"],
  // The platform-less nested index stands for any platform: its own entries decide.
  [
    "spec-image-index-example2.json",
    "linux/amd64",
    "sha256:601570aaff1b68a61eb9c85b8beca1644e698003e0cdb5bce960f193d265a8b7",
  ],
  [
    "spec-image-index-example2.json",
    "linux/ppc64le",
    "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
  ],
  // The application/xml entry is never chosen.
  [
    "spec-layout-index-example.json",
    "linux/amd64",
    "sha256:0228f90e926ba6b96e4f39cf294b2586d38fbb5a1e385c05cd1ee40ea54fe7fd",
  ],
  [
    "spec-layout-index-example.json",
    "linux/ppc64le",
    "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
  ],
  [
    "ci-ocilist-variants.json",
    "linux/amd64",
    "sha256:59eec8837a4d942cc19a52b8c09ea75121acc38114a2c68b98983ce9356b8610",
  ],
  ["ci-ocilist-variants.json", "linux/arm/v7", d("e")],
  // Two v6 entries: the one not marked as the zstd twin.
  ["ci-ocilist-variants.json", "linux/arm/v6", d("d")],
  // v8 is absent: the variant-less arm entry, before any lower variant.
  [
    "ci-ocilist-variants.json",
    "linux/arm/v8",
    "sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53",
  ],
  [
    "ci-ocilist-variants.json",
    "linux/arm",
    "sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53",
  ],
  ["ci-oci1.index.zstd-selection.json", "linux/amd64", d("a")],
  ["ci-oci1.index.zstd-selection.json", "linux/arm64", d("c")],
  ["ci-oci1.index.zstd-selection.json", "linux/arm/v7", "E_OCI_NO_MATCHING_PLATFORM"],
  ["ci-v2list.everything.json", "b/a/e", d("a")],
  ["ci-v2list.everything.json", "linux/amd64", "E_OCI_NO_MATCHING_PLATFORM"],
];

for (const [file, platform, expected] of SELECTIONS) {
  test(`${file} for ${platform} selects ${expected.slice(0, 19)}`, () => {
    const idx = index(file);
    if (expected.startsWith("E_")) {
      assert.throws(
        () => selectPlatform(idx, parsePlatform(platform)),
        (err: unknown) => isGvmconvError(err) && err.code === expected,
      );
    } else assert.equal(selectPlatform(idx, parsePlatform(platform)).digest, expected);
  });
}

test("the zstd twins rank after their gzip siblings, whatever the index order", () => {
  const idx = index("ci-oci1.index.zstd-selection.json");
  idx.manifests.reverse(); // zstd ones now come first for amd64
  assert.deepEqual(
    rankPlatforms(idx, parsePlatform("linux/amd64")).map((m) => m.digest),
    [d("a"), d("0"), d("b")],
  );
});

test("the spec's manifest, config and a non-distributable manifest parse", () => {
  const m = parseManifest(fixture("spec-manifest-example.json"), undefined) as ImageManifest;
  assert.equal(m.kind, "manifest");
  assert.equal(m.layers.length, 3);
  const nd = parseManifest(fixture("ci-ociv1.nondistributable.gzip.manifest.json"), undefined);
  assert.equal(
    nd.kind === "manifest" && nd.layers[0]?.mediaType,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  );
  const c = parseImageConfig(fixture("spec-config-example.json"));
  assert.equal(c.os, "linux");
  assert.equal(c.rootfs.diff_ids.length, 2);
  const v2 = index("ci-v2list.everything.json");
  assert.deepEqual(v2.manifests[0]?.platform, { os: "b", architecture: "a", variant: "e" });
  assert.deepEqual(v2.manifests[0]?.urls, ["https://some.example/manifest"]);
});

test("index entries without platform are linux/amd64; unknown/unknown attestations are skipped", () => {
  const idx: ImageIndex = {
    kind: "index",
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: d("1"),
        size: 1,
        platform: { os: "unknown", architecture: "unknown" },
      },
      { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: d("2"), size: 1 },
    ],
  };
  assert.equal(selectPlatform(idx, parsePlatform("linux/amd64")).digest, d("2"));
  assert.throws(
    () => selectPlatform(idx, parsePlatform("linux/arm64")),
    (err: unknown) =>
      isGvmconvError(err) &&
      err.code === "E_OCI_NO_MATCHING_PLATFORM" &&
      /available: linux\/amd64$/.test(err.message),
  );
});

// ---- hostile variants ----

const WRONG: unknown[] = [42, -1, 1.5, "x", "", true, null, [], [1], {}, { a: 1 }];

/** Every path to a value in `v`, as key lists. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = prefix.length > 0 ? [prefix] : [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (typeof v === "object" && v !== null)
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function setAt(v: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path.at(-1) as string | number] = value;
  return copy;
}

/** Everything the converter does with a document of this kind, as far as it can without blobs. */
function useDocument(kind: "manifest" | "config", bytes: Buffer): void {
  if (kind === "config") {
    const c = parseImageConfig(bytes);
    buildContainerConfig({ imageId: d("a"), config: c.config ?? null });
    return;
  }
  const m = parseManifest(bytes, undefined);
  if (m.kind === "index") rankPlatforms(m, parsePlatform("linux/amd64"));
}

const HOSTILE_SOURCES: [string, "manifest" | "config"][] = [
  ["spec-image-index-example1.json", "manifest"],
  ["spec-layout-index-example.json", "manifest"],
  ["ci-ocilist-variants.json", "manifest"],
  ["ci-v2list.everything.json", "manifest"],
  ["spec-manifest-example.json", "manifest"],
  ["ci-ociv1.nondistributable.gzip.manifest.json", "manifest"],
  ["spec-config-example.json", "config"],
];

for (const [file, kind] of HOSTILE_SOURCES) {
  test(`${file}: every field with every wrong JSON type is read or refused with a code, never a TypeError`, () => {
    const doc: unknown = JSON.parse(fixture(file).toString());
    let refused = 0;
    let cases = 0;
    for (const path of paths(doc)) {
      for (const value of WRONG) {
        cases++;
        const bytes = Buffer.from(JSON.stringify(setAt(doc, path, value)));
        try {
          useDocument(kind, bytes);
        } catch (err) {
          refused++;
          assert.ok(
            isGvmconvError(err),
            `${path.join(".")} = ${JSON.stringify(value)}: ${(err as Error).name}: ${(err as Error).message}`,
          );
          assert.ok(!err.message.includes("\n"), "one line");
          assert.ok(
            err.hint,
            `${path.join(".")} = ${JSON.stringify(value)}: ${err.message}: says what to do`,
          );
        }
      }
    }
    // The mutations must bite: most wrong types are refused.
    assert.ok(refused > cases / 3, `${refused} of ${cases} refused`);
  });
}

/** [what, mutate the spec's first index example, field the message must name]. */
const NAMED: [string, (j: Record<string, any>) => void, RegExp][] = [
  [
    "layers not an array",
    (j) => {
      j.mediaType = "application/vnd.oci.image.manifest.v1+json";
      j.config = j.manifests[0];
      j.layers = "l";
    },
    /manifest layers is a string, expected an array/,
  ],
  [
    "manifests an object",
    (j) => {
      j.manifests = {};
    },
    /index manifests is an object, expected an array/,
  ],
  [
    "platform a string",
    (j) => {
      j.manifests[0].platform = "linux/amd64";
    },
    /index entry 0 platform is a string/,
  ],
  [
    "architecture a number",
    (j) => {
      j.manifests[1].platform.architecture = 64;
    },
    /index entry 1 platform\.architecture is a number/,
  ],
  [
    "variant a number",
    (j) => {
      j.manifests[1].platform.variant = 7;
    },
    /index entry 1 platform\.variant is a number/,
  ],
  [
    "size a string",
    (j) => {
      j.manifests[0].size = "7143";
    },
    /index entry 0 size is a string/,
  ],
  [
    "digest a number",
    (j) => {
      j.manifests[0].digest = 1;
    },
    /index entry 0 digest is a number/,
  ],
  [
    // image-spec schema/imageindex_test.go's entry without a digest (test/fixtures/conformance)
    "digest missing",
    (j) => {
      delete j.manifests[0].digest;
    },
    /index entry 0 digest is missing, expected a string/,
  ],
  [
    "architecture missing",
    (j) => {
      delete j.manifests[1].platform.architecture;
    },
    /index entry 1 platform\.architecture is missing, expected a string/,
  ],
  [
    "mediaType a number",
    (j) => {
      j.manifests[0].mediaType = 2;
    },
    /index entry 0 mediaType is a number/,
  ],
  [
    "urls a string",
    (j) => {
      j.manifests[0].urls = "https://x";
    },
    /index entry 0 urls is a string/,
  ],
  [
    "an annotation a number",
    (j) => {
      j.annotations["com.example.key1"] = 1;
    },
    /manifest annotations\.com\.example\.key1 is a number/,
  ],
  [
    "top mediaType a number",
    (j) => {
      j.mediaType = 3;
    },
    /manifest mediaType is a number/,
  ],
  [
    "empty manifests",
    (j) => {
      j.manifests = [];
    },
    /index manifests is empty/,
  ],
];

for (const [what, mutate, message] of NAMED) {
  test(`an index with ${what} is E_OCI_INVALID_MANIFEST naming the field`, () => {
    const j = JSON.parse(fixture("spec-image-index-example1.json").toString()) as Record<string, any>;
    mutate(j);
    assert.throws(
      () => useDocument("manifest", Buffer.from(JSON.stringify(j))),
      (err: unknown) =>
        isGvmconvError(err) && err.code === "E_OCI_INVALID_MANIFEST" && message.test(err.message),
    );
  });
}

test("config fields of the wrong type are named", () => {
  const j = JSON.parse(fixture("spec-config-example.json").toString()) as Record<string, any>;
  for (const [mutate, message] of [
    [(c: any) => (c.os = 1), /image config os is a number/],
    [(c: any) => (c.rootfs.diff_ids = "x"), /image config rootfs\.diff_ids is a string/],
    [(c: any) => (c.rootfs.diff_ids[1] = 5), /image config rootfs\.diff_ids\[1\] is a number/],
    [(c: any) => (c.config = "cmd"), /image config config is a string/],
    [(c: any) => (c.variant = []), /image config variant is an array/],
  ] as [(c: any) => void, RegExp][]) {
    const c = structuredClone(j);
    mutate(c);
    assert.throws(
      () => parseImageConfig(Buffer.from(JSON.stringify(c))),
      (err: unknown) =>
        isGvmconvError(err) && err.code === "E_OCI_INVALID_MANIFEST" && message.test(err.message),
    );
  }
});

// ---- nesting ----

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const manifestWith = (layerType: string): ImageManifest => ({
  kind: "manifest",
  mediaType: OCI_MANIFEST,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c"), size: 2 },
  layers: [{ mediaType: layerType, digest: d("f"), size: 3 }],
});
const indexOf = (...manifests: ImageIndex["manifests"]): ImageIndex => ({
  kind: "index",
  mediaType: OCI_INDEX,
  manifests,
});

test(`indexes nested up to ${MAX_INDEX_DEPTH} deep resolve; one more is a coded error, as is a cycle`, async () => {
  const amd64 = parsePlatform("linux/amd64");
  // `chain(n)`: n indexes, the top one included, each pointing (without platform) to the next.
  const chain = (depth: number) => async (e: { digest: string }) => {
    const n = Number.parseInt(e.digest.slice(7, 9), 16);
    return n + 1 < depth
      ? indexOf({
          mediaType: OCI_INDEX,
          digest: `sha256:${(n + 1).toString(16).padStart(2, "0")}${"0".repeat(62)}`,
          size: 1,
        })
      : manifestWith("application/vnd.oci.image.layer.v1.tar+gzip");
  };
  const top = indexOf({ mediaType: OCI_INDEX, digest: `sha256:00${"0".repeat(62)}`, size: 1 });
  const ok = await resolveManifest(top, amd64, chain(MAX_INDEX_DEPTH));
  assert.equal(ok.path.length, MAX_INDEX_DEPTH);
  await assert.rejects(
    resolveManifest(top, amd64, chain(MAX_INDEX_DEPTH + 1)),
    (err: unknown) =>
      isGvmconvError(err) &&
      err.code === "E_OCI_INVALID_MANIFEST" &&
      /nest more than 4 deep/.test(err.message),
  );
  const self = { mediaType: OCI_INDEX, digest: d("9"), size: 1 };
  await assert.rejects(
    resolveManifest(indexOf(self), amd64, async () => indexOf(self)),
    (err: unknown) =>
      isGvmconvError(err) && err.code === "E_OCI_INVALID_MANIFEST" && /contains itself/.test(err.message),
  );
});

test("for one platform a gzip or plain manifest is taken over a zstd one, and zstd when alone", async () => {
  const amd64 = parsePlatform("linux/amd64");
  const blobs = new Map<string, ImageManifest>([
    [d("1"), manifestWith("application/vnd.oci.image.layer.v1.tar+zstd")],
    [d("2"), manifestWith("application/vnd.oci.image.layer.v1.tar")],
  ]);
  const fetch = async (e: { digest: string }): Promise<ImageManifest> => blobs.get(e.digest) as ImageManifest;
  const both = indexOf(
    { mediaType: OCI_MANIFEST, digest: d("1"), size: 1, platform: { os: "linux", architecture: "amd64" } },
    { mediaType: OCI_MANIFEST, digest: d("2"), size: 1 },
  );
  assert.equal((await resolveManifest(both, amd64, fetch)).digest, d("2"));
  const zstdOnly = indexOf({ mediaType: OCI_MANIFEST, digest: d("1"), size: 1 });
  assert.equal((await resolveManifest(zstdOnly, amd64, fetch)).digest, d("1"));
});

test("parsePlatform: an architecture alone means linux (docker's --platform amd64); an unknown word is refused", () => {
  assert.deepEqual(parsePlatform("amd64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("x86_64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("arm64"), { os: "linux", architecture: "arm64" });
  assert.deepEqual(parsePlatform("arm/v7"), { os: "linux", architecture: "arm", variant: "v7" });
  assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assert.throws(() => parsePlatform("linux"), /invalid platform "linux"/);
  assert.throws(() => parsePlatform("windows"), /invalid platform/);
});
