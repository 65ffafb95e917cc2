import { test } from "node:test";
import assert from "node:assert/strict";
import { parseReference } from "../../src/oci/reference.js";
import { InvalidReferenceError } from "../../src/oci/errors.js";

const D = `sha256:${"a".repeat(64)}`;

const valid: [
  string,
  {
    registry: string;
    endpoint?: string;
    repository: string;
    tag?: string;
    digest?: string;
    familiar?: string;
  },
][] = [
  [
    "alpine",
    {
      registry: "docker.io",
      endpoint: "registry-1.docker.io",
      repository: "library/alpine",
      tag: "latest",
      familiar: "alpine:latest",
    },
  ],
  [
    "alpine:3.20",
    { registry: "docker.io", repository: "library/alpine", tag: "3.20", familiar: "alpine:3.20" },
  ],
  ["user/img", { registry: "docker.io", repository: "user/img", tag: "latest", familiar: "user/img:latest" }],
  ["docker.io/library/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
  [
    "index.docker.io/library/alpine:edge",
    { registry: "docker.io", repository: "library/alpine", tag: "edge" },
  ],
  ["docker.io/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
  [
    "ghcr.io/org/img:tag",
    {
      registry: "ghcr.io",
      endpoint: "ghcr.io",
      repository: "org/img",
      tag: "tag",
      familiar: "ghcr.io/org/img:tag",
    },
  ],
  [`localhost:5000/img@${D}`, { registry: "localhost:5000", repository: "img", digest: D }],
  [`registry:5000/a/b/c:tag@${D}`, { registry: "registry:5000", repository: "a/b/c", tag: "tag", digest: D }],
  ["localhost/img", { registry: "localhost", repository: "img", tag: "latest" }],
  [
    "127.0.0.1:5000/x_y.z--w__v:v1.0-rc_1",
    { registry: "127.0.0.1:5000", repository: "x_y.z--w__v", tag: "v1.0-rc_1" },
  ],
  ["[::1]:5000/img", { registry: "[::1]:5000", repository: "img", tag: "latest" }],
  ["Registry.Example.COM/img", { registry: "Registry.Example.COM", repository: "img", tag: "latest" }],
  ["localhost:5000", { registry: "docker.io", repository: "library/localhost", tag: "5000" }],
];

for (const [input, want] of valid) {
  test(`parses ${input}`, () => {
    const r = parseReference(input);
    assert.equal(r.registry, want.registry);
    assert.equal(r.repository, want.repository);
    assert.equal(r.tag, want.tag);
    assert.equal(r.digest, want.digest);
    if (want.endpoint !== undefined) assert.equal(r.endpoint, want.endpoint);
    if (want.familiar !== undefined) assert.equal(r.familiar, want.familiar);
    assert.equal(r.ref, want.digest ?? want.tag);
  });
}

const invalid: [string, RegExp][] = [
  ["", /empty/],
  ["Alpine", /lowercase/],
  ["docker.io/Library/alpine", /lowercase/],
  ["alpine:", /bad tag/],
  ["alpine:-x", /bad tag/],
  [`alpine:${"t".repeat(129)}`, /bad tag/],
  ["alpine@sha256:abc", /bad digest/],
  ["alpine@md5:" + "a".repeat(32), /bad digest/],
  ["a".repeat(64), /64-hex/],
  ["ghcr.io//img", /empty component/],
  ["ghcr.io/img_", /bad repository path component/],
  ["ghcr.io/-img", /bad repository path component/],
  ["bad_host.io:99999/img", /bad registry/],
  ["my image", /whitespace/],
  [":tag", /repository name is missing/],
  [`ghcr.io/${"a/".repeat(130)}b`, /longer than 255/],
];

for (const [input, reason] of invalid) {
  test(`rejects ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + "…" : input)}`, () => {
    assert.throws(
      () => parseReference(input),
      (err: unknown) =>
        err instanceof InvalidReferenceError &&
        err.code === "E_OCI_INVALID_REFERENCE" &&
        reason.test(err.reason) &&
        err.reference === input,
    );
  });
}
