#!/usr/bin/env node
// Regenerates samples/hello-oci: a small two-layer OCI image layout shipped in the repo so that
// `npm run sample` converts a real image with no network. Deterministic: fixed mtimes, fixed order,
// gzip level 9 (committed output, so zlib version drift does not matter).
// Layer 1 is a tiny "base" (passwd/group, a script, a doc tree with a hard link and a symlink);
// layer 2 changes it the way real images do: a replaced file, a whiteout and an opaque directory.
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

const OUT = new URL("../samples/hello-oci/", import.meta.url).pathname;
const MTIME = new Date("2026-01-01T00:00:00Z");

async function makeTar(entries) {
  const pack = tar.pack();
  const chunks = [];
  pack.on("data", (c) => chunks.push(c));
  const done = new Promise((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const e of entries) {
    const { body, ...header } = e;
    await new Promise((resolve, reject) =>
      pack.entry({ mtime: MTIME, uid: 0, gid: 0, ...header }, body, (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

function writeBlob(bytes) {
  const hex = sha256(bytes);
  writeFileSync(join(OUT, "blobs/sha256", hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

const passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000:app:/app:/bin/sh\n";
const group = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n";
const hello = "#!/bin/sh\necho \"hello from a Golem VM image made by gvmconv\"\n";
const readme = "gvmconv sample image.\n".repeat(40);

const layer1 = await makeTar([
  { name: "etc/", type: "directory", mode: 0o755 },
  { name: "etc/passwd", mode: 0o644, body: passwd },
  { name: "etc/group", mode: 0o644, body: group },
  { name: "etc/motd", mode: 0o644, body: "old motd, removed by layer 2\n" },
  { name: "app/", type: "directory", mode: 0o755, uid: 1000, gid: 1000 },
  { name: "app/hello.sh", mode: 0o755, uid: 1000, gid: 1000, body: "#!/bin/sh\necho old\n" },
  { name: "usr/", type: "directory", mode: 0o755 },
  { name: "usr/share/", type: "directory", mode: 0o755 },
  { name: "usr/share/doc/", type: "directory", mode: 0o755 },
  { name: "usr/share/doc/README", mode: 0o644, body: readme },
  { name: "usr/share/doc/README.link", type: "link", linkname: "usr/share/doc/README", mode: 0o644 },
  { name: "usr/share/doc/latest", type: "symlink", linkname: "README", mode: 0o777 },
  { name: "var/", type: "directory", mode: 0o755 },
  { name: "var/cache/", type: "directory", mode: 0o755 },
  { name: "var/cache/stale-1", mode: 0o644, body: "stale\n" },
  { name: "var/cache/stale-2", mode: 0o644, body: "stale too\n" },
]);
const layer2 = await makeTar([
  { name: "app/", type: "directory", mode: 0o750, uid: 1000, gid: 1000 },
  { name: "app/hello.sh", mode: 0o755, uid: 1000, gid: 1000, body: hello },
  { name: "etc/", type: "directory", mode: 0o755 },
  { name: "etc/.wh.motd", mode: 0o644, body: "" },
  { name: "var/", type: "directory", mode: 0o755 },
  { name: "var/cache/", type: "directory", mode: 0o755 },
  { name: "var/cache/.wh..wh..opq", mode: 0o644, body: "" },
  { name: "var/cache/fresh", mode: 0o644, body: "fresh\n" },
  { name: "golem/", type: "directory", mode: 0o755 },
  { name: "golem/work/", type: "directory", mode: 0o777 },
]);

rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, "blobs/sha256"), { recursive: true });

const layers = [layer1, layer2].map((raw) => ({ raw, gz: gzipSync(raw, { level: 9 }) }));
const layerDescs = layers.map(({ gz }) => ({
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  ...writeBlob(gz),
}));
const config = {
  created: MTIME.toISOString(),
  architecture: "amd64",
  os: "linux",
  config: {
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
    Entrypoint: ["/bin/sh"],
    Cmd: ["/app/hello.sh"],
    WorkingDir: "/app",
    User: "app",
    Volumes: { "/golem/work": {} },
    Labels: { "org.opencontainers.image.title": "gvmconv sample" },
  },
  rootfs: { type: "layers", diff_ids: layers.map(({ raw }) => `sha256:${sha256(raw)}`) },
  history: [{ created: MTIME.toISOString(), created_by: "scripts/make-sample.mjs layer 1" }, { created: MTIME.toISOString(), created_by: "scripts/make-sample.mjs layer 2" }],
};
const configDesc = {
  mediaType: "application/vnd.oci.image.config.v1+json",
  ...writeBlob(Buffer.from(JSON.stringify(config))),
};
const manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers: layerDescs };
const manifestDesc = {
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  ...writeBlob(Buffer.from(JSON.stringify(manifest))),
  annotations: { "org.opencontainers.image.ref.name": "latest" },
  platform: { architecture: "amd64", os: "linux" },
};
writeFileSync(join(OUT, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
writeFileSync(join(OUT, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [manifestDesc] }, null, 2) + "\n");
console.log(`wrote ${OUT} (image id ${configDesc.digest})`);
