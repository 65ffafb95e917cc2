/**
 * Benchmark (not a test): `gvmconv build` of eight images that share a base layer, against the
 * same work done by running `gvmconv SOURCE` eight times in a row. The images are pushed to a
 * real `docker-registry` on 127.0.0.1: one base layer (BASE_MIB of half-compressible data and a
 * few thousand small files) and a small layer of its own each.
 *
 *   cold      gvmconv build FILE --cache-dir EMPTY -j 2         (downloads included)
 *   warm      the same again: nothing changed, every image skipped (target < 2 s)
 *   touched   one added file changed: that image rebuilt, seven skipped
 *   sequential  8 × gvmconv REF -o OUT --cache-dir EMPTY'       (one cache for the eight runs)
 *
 * Prints wall time, CPU (user+sys) and peak RSS for each (/usr/bin/time). Target: cold no slower
 * than sequential on 2 cores. Usage: node build/bench/build.js [--base-mib=N]
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleImage, layerTar, startRegistry, skopeo, writeLayout } from "../test/oci/helpers.js";
import { packTar } from "../test/support/tar.js";
import { prng } from "../test/support/prng.js";
import { timedRss } from "./squashfs.js";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const cli = join(repo, "dist/cli/main.js");
const work = join(repo, "bench/out/build");
const IMAGES = 8;
const BASE_MIB = Number(process.argv.find((a) => a.startsWith("--base-mib="))?.split("=")[1] ?? 48);

async function baseLayer(): Promise<Buffer> {
  const random = prng(7);
  const half = Buffer.alloc(BASE_MIB * 1024 * 1024);
  for (let i = 0; i < half.length; i++) half[i] = i % 2 === 0 ? Math.floor(random() * 256) : 0x61 + (i % 7);
  const members = [
    { header: { name: "usr/lib/blob.bin", mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body: half },
  ];
  for (let i = 0; i < 3000; i++) {
    members.push({
      header: { name: `usr/share/doc/f${i}.txt`, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 },
      body: Buffer.from(`file ${i} `.repeat(40)),
    });
  }
  return await packTar(members);
}

function row(label: string, r: { seconds: number; rssKiB?: number; cpuSeconds?: number }): string {
  const rss = r.rssKiB === undefined ? "?" : `${Math.round(r.rssKiB / 1024)} MiB`;
  const cpu = r.cpuSeconds === undefined ? "?" : `${r.cpuSeconds.toFixed(1)} s`;
  return `${label.padEnd(34)} wall ${r.seconds.toFixed(2).padStart(7)} s   CPU ${cpu.padStart(8)}   peak RSS ${rss}`;
}

async function main(): Promise<void> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, "project", "files"), { recursive: true });
  const registry = await startRegistry(join(work, "storage"));
  try {
    const base = await baseLayer();
    const refs: string[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const top = await layerTar({ [`etc/image-${i}`]: `image ${i}\n` });
      const image = assembleImage(
        [
          { tar: base, compression: "gzip" },
          { tar: top, compression: "gzip" },
        ],
        { architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"], Volumes: { "/data": {} } } },
      );
      const layout = join(work, `layout-${i}`);
      await writeLayout(layout, [{ kind: "image", ref: "v1", image }]);
      const ref = `${registry.host}/bench/img${i}:v1`;
      await skopeo("copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${ref}`);
      refs.push(ref);
    }
    writeFileSync(join(work, "project", "files", "conf.txt"), "v1\n");
    const yaml = ["images:"];
    refs.forEach((ref, i) => {
      yaml.push(`  img${i}:`, `    source: ${ref}`);
      if (i === 0) yaml.push("    add: [{ src: files, dest: /etc/app }]");
    });
    writeFileSync(join(work, "project", "gvmconv.yaml"), yaml.join("\n") + "\n");
    console.log(`${IMAGES} images sharing a ${BASE_MIB} MiB base layer (+3000 small files), gzip, 2 cores`);

    const build = (cache: string): Promise<Awaited<ReturnType<typeof timedRss>>> =>
      timedRss("node", [
        cli,
        "build",
        join(work, "project", "gvmconv.yaml"),
        "--cache-dir",
        cache,
        "-j",
        "2",
        "--quiet",
      ]);
    const cold = await build(join(work, "cache-build"));
    console.log(row("build, cold cache", cold));
    const warm = await build(join(work, "cache-build"));
    console.log(row(`build, warm, nothing changed (< 2 s)`, warm));
    writeFileSync(join(work, "project", "files", "conf.txt"), "v2\n");
    const touched = await build(join(work, "cache-build"));
    console.log(row("build, one added file changed", touched));

    const seqStart = process.hrtime.bigint();
    let cpu = 0;
    let rss = 0;
    mkdirSync(join(work, "seq"), { recursive: true });
    for (const [i, ref] of refs.entries()) {
      const r = await timedRss("node", [
        cli,
        ref,
        "-o",
        join(work, "seq", `img${i}.gvmi`),
        "--cache-dir",
        join(work, "cache-seq"),
        "--quiet",
      ]);
      cpu += r.cpuSeconds ?? 0;
      rss = Math.max(rss, r.rssKiB ?? 0);
    }
    const seconds = Number(process.hrtime.bigint() - seqStart) / 1e9;
    console.log(row(`${IMAGES} × gvmconv SOURCE, sequential`, { seconds, cpuSeconds: cpu, rssKiB: rss }));
    console.log(`cold build / sequential: ${(cold.seconds / seconds).toFixed(2)}× (target ≤ 1.0×)`);
  } finally {
    await registry.stop();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main();
