/**
 * Benchmark (not a test): the whole pipeline, registry → SquashFS, against what daemonless peers
 * do. On the same image, pushed to a real `docker-registry` on 127.0.0.1:
 *
 *   gvmconv  node dist/cli/main.js 127.0.0.1:PORT/bench/img:tag --format squashfs -o OUT
 *            --cache-dir EMPTY_DIR   (cold cache: the download is included)
 *   peers    skopeo copy docker://… oci:DIR:tag  →  umoci unpack --rootless  →  mksquashfs
 *            (wall time summed over the three steps, peak RSS the largest of the three)
 *
 * Same compressor, level and block size on both sides (gzip 9 = mksquashfs's default, gzip 6 =
 * gvmconv's, xz = liblzma preset 6; block 128K; 2 compression threads). Prints wall times, sizes,
 * ratios and gvmconv's peak RSS beside the targets, the load average around each run, and whether
 * both outputs hold the same tree (sqfsdiff; reported, never failed on).
 *
 * The test image (a 600 MiB semi-compressible file; 20,000 small text files; a layer that whites
 * out and replaces some of them) is built once and cached under bench/out/pipeline/ (gitignored).
 *
 * Usage: node build/bench/pipeline.js [gzip9|gzip6|xz ...] [--runs=N] [--phases] [--profile]
 *   --runs=N    repeat the measurements N times (the machine may be noisy) and report each run;
 *               0 skips them (with --phases / --profile alone)
 *   --phases    afterwards, gvmconv gzip 6 cold, warm-cache and warm at gzip 1: where time goes
 *   --profile   afterwards, run gvmconv once more under --cpu-prof (gzip 6) and print the top
 *               self-time functions, main thread and compression workers separately
 */
import { spawn } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import {
  closeSync,
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";

import { startRegistry, skopeo, type RunningRegistry } from "../test/oci/helpers.js";
import { prng } from "../test/support/prng.js";
import { BLOCK_SIZE, LEVEL, timedRss, verdict } from "./squashfs.js";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const cli = join(repo, "dist/cli/main.js");
const work = join(repo, "bench/out/pipeline");
const layout = join(work, "layout");
const REPO_NAME = "bench/img";
const TAG = "tag";
const TARGETS = { ratio: 0.35, rssMiB: 300 };
const MiB = 1 << 20;

interface Config {
  name: string;
  comp: "gzip" | "xz";
  level: number;
}
const CONFIGS: Config[] = [
  { name: "gzip9", comp: "gzip", level: 9 },
  { name: "gzip6", comp: "gzip", level: 6 },
  { name: "xz", comp: "xz", level: LEVEL.xz ?? 6 },
];

// ---------------------------------------------------------------------------------------------
// The test image

/** Deterministic incompressible bytes: AES-256-CTR over zeros. */
function randomStream(seed: string): (n: number) => Buffer {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

/** Regular files under /usr/lib (sorted), read back to back, wrapping around: real binaries. */
function binaryStream(): (n: number) => Buffer {
  const files: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size >= 16384) files.push(p);
    }
  };
  walk("/usr/lib");
  if (files.length === 0) throw new Error("no files under /usr/lib to build the large file from");
  let i = 0;
  let fd = -1;
  return (n) => {
    const out = Buffer.alloc(n);
    let filled = 0;
    while (filled < n) {
      if (fd < 0) {
        try {
          fd = openSync(files[i % files.length]!, "r");
        } catch {
          i++;
          continue;
        }
      }
      const got = readSync(fd, out, filled, n - filled, null);
      if (got === 0) {
        closeSync(fd);
        fd = -1;
        i++;
      }
      filled += got;
    }
    return out;
  };
}

const WORDS = (
  "the of and to in is that for it as with was on be by at this are from or an which have not " +
  "but all were when we there can more if no out so said what up its about into than them only " +
  "image layer block golem provider requestor squashfs inode directory fragment table compress " +
  "config error warning return value function const string number buffer stream entry digest"
).split(" ");

/** Text-like bytes: words, numbers and punctuation in lines of varying length. */
function textCorpus(bytes: number, rnd: () => number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < bytes) {
    const words = 3 + Math.floor(rnd() * 14);
    const line: string[] = [];
    for (let w = 0; w < words; w++) {
      const r = rnd();
      line.push(r < 0.08 ? String(Math.floor(rnd() * 100000)) : WORDS[Math.floor(rnd() * WORDS.length)]!);
    }
    const s = (rnd() < 0.2 ? "    " : "") + line.join(" ") + (rnd() < 0.5 ? "." : ";") + "\n";
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join(""));
}

const LARGE_BYTES = 600 * MiB;
const SMALL_FILES = 20_000;
const smallPath = (i: number): string =>
  `srv/data/d${String(Math.floor(i / 1000)).padStart(2, "0")}/s${String(Math.floor(i / 50) % 20).padStart(2, "0")}/f${String(i).padStart(5, "0")}.txt`;

function mkfile(root: string, rel: string, data: Uint8Array | string): void {
  const p = join(root, rel);
  mkdirSync(resolve(p, ".."), { recursive: true });
  writeFileSync(p, data);
}

/** Layer 1: one 600 MiB file, per MiB 3/4 real binaries and 1/4 random bytes. */
function makeLayer1(root: string): void {
  mkdirSync(join(root, "opt/big"), { recursive: true });
  const bin = binaryStream();
  const rnd = randomStream("gvmconv pipeline bench");
  const fd = openSync(join(root, "opt/big/blob.bin"), "w");
  for (let done = 0; done < LARGE_BYTES; done += MiB) {
    writeSync(fd, bin((3 * MiB) / 4));
    writeSync(fd, rnd(MiB / 4));
  }
  closeSync(fd);
}

/** Layer 2: 20,000 text-like files of 0–16 KiB in 20 × 20 directories. */
function makeLayer2(root: string): void {
  const rnd = prng(2);
  const corpus = textCorpus(4 * MiB, rnd);
  for (let i = 0; i < SMALL_FILES; i++) {
    const size = Math.floor(rnd() * 16385);
    const head = Buffer.from(`# ${smallPath(i)}\n`);
    const off = Math.floor(rnd() * (corpus.length - 16384));
    const body = corpus.subarray(off, off + Math.max(0, size - head.length));
    mkfile(root, smallPath(i), size < head.length ? head.subarray(0, size) : Buffer.concat([head, body]));
  }
}

/**
 * Layer 3: whiteouts of 10 files and of one directory (50 files), an opaque directory with 2 new
 * files, 10 files replaced with new content, and a new file.
 */
function makeLayer3(root: string): void {
  const rnd = prng(3);
  const corpus = textCorpus(MiB, rnd);
  const wh = (rel: string): void => {
    const slash = rel.lastIndexOf("/");
    mkfile(root, `${rel.slice(0, slash)}/.wh.${rel.slice(slash + 1)}`, "");
  };
  for (let k = 0; k < 10; k++) wh(smallPath(37 + k * 1999));
  wh("srv/data/d05/s03");
  mkfile(root, "srv/data/d07/s11/.wh..wh..opq", "");
  mkfile(root, "srv/data/d07/s11/new-a.txt", corpus.subarray(0, 5000));
  mkfile(root, "srv/data/d07/s11/new-b.txt", corpus.subarray(5000, 9000));
  for (let k = 0; k < 10; k++) {
    const off = Math.floor(rnd() * (corpus.length - 20000));
    mkfile(root, smallPath(123 + k * 1901), corpus.subarray(off, off + 1000 + k * 1500));
  }
  mkfile(root, "etc/bench-release", "gvmconv pipeline benchmark image\n");
}

/** Pass-through that hashes what flows by. */
function hashing(hash: ReturnType<typeof createHash>, count?: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      if (count) count.bytes += chunk.length;
      cb(null, chunk);
    },
  });
}

/** tar (GNU, sorted, root-owned, fixed mtime) | gzip -6 into the layout's blobs. */
async function tarLayer(src: string): Promise<{ digest: string; size: number; diffId: string }> {
  const blobs = join(layout, "blobs/sha256");
  const names = readdirSync(src).sort();
  const tar = spawn(
    "tar",
    [
      "-C",
      src,
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mtime=@1700000000",
      "--format=gnu",
      "-cf",
      "-",
      ...names,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<number | null>((r) => tar.once("close", r));
  const diff = createHash("sha256");
  const blob = createHash("sha256");
  const count = { bytes: 0 };
  const tmpBlob = join(blobs, "partial");
  await pipeline(
    tar.stdout,
    hashing(diff),
    createGzip({ level: 6 }),
    hashing(blob, count),
    createWriteStream(tmpBlob),
  );
  if ((await exited) !== 0) throw new Error(`tar of ${src} failed`);
  const hex = blob.digest("hex");
  renameSync(tmpBlob, join(blobs, hex));
  return { digest: `sha256:${hex}`, size: count.bytes, diffId: `sha256:${diff.digest("hex")}` };
}

async function buildImage(): Promise<void> {
  const marker = `${layout}.complete`;
  if (existsSync(marker)) return;
  console.log("building the test image once (cached under bench/out/pipeline/) …");
  const t0 = Date.now();
  const src = join(work, "src");
  rmSync(src, { recursive: true, force: true });
  rmSync(layout, { recursive: true, force: true });
  mkdirSync(join(layout, "blobs/sha256"), { recursive: true });
  const layers = [];
  for (const [i, make] of [makeLayer1, makeLayer2, makeLayer3].entries()) {
    const dir = join(src, `layer${i + 1}`);
    mkdirSync(dir, { recursive: true });
    make(dir);
    layers.push(await tarLayer(dir));
  }
  const put = (obj: unknown): { digest: string; size: number } => {
    const b = Buffer.from(JSON.stringify(obj));
    const hex = createHash("sha256").update(b).digest("hex");
    writeFileSync(join(layout, "blobs/sha256", hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const config = put({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"], WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = put({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: l.digest,
      size: l.size,
    })),
  });
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": TAG },
        },
      ],
    }),
  );
  rmSync(src, { recursive: true, force: true });
  const sizes = layers.map((l) => `${(l.size / MiB).toFixed(1)} MiB`).join(", ");
  writeFileSync(marker, `layers (gzip): ${sizes}\n`);
  console.log(`built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

// ---------------------------------------------------------------------------------------------
// The runs

interface Measured {
  seconds: number;
  size: number;
  rssKiB?: number;
  /** User + system CPU seconds, all threads (summed over the peers' steps). */
  cpu?: number;
  steps?: { name: string; seconds: number; rssKiB?: number; cpu?: number }[];
  load: [number, number];
}

const load1 = (): number => loadavg()[0]!;

async function runGvmconv(
  ref: string,
  cfg: Config,
  out: string,
  extraNodeArgs: string[] = [],
  warmCache = false,
): Promise<Measured> {
  const cache = join(work, "run/gvmconv-cache");
  if (!warmCache) rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  rmSync(out, { force: true });
  const before = load1();
  const { seconds, rssKiB, cpuSeconds } = await timedRss(process.execPath, [
    ...extraNodeArgs,
    cli,
    ref,
    "--format",
    "squashfs",
    "-o",
    out,
    "--cache-dir",
    cache,
    "--compression",
    cfg.comp,
    "--level",
    String(cfg.level),
    "--block-size",
    String(BLOCK_SIZE),
    "--workers",
    "2",
    "--quiet",
  ]);
  if (!warmCache) rmSync(cache, { recursive: true, force: true });
  return { seconds, size: statSync(out).size, rssKiB, cpu: cpuSeconds, load: [before, load1()] };
}

async function runPeers(ref: string, cfg: Config, out: string): Promise<Measured> {
  const oci = join(work, "run/peers-oci");
  const bundle = join(work, "run/peers-bundle");
  rmSync(oci, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
  rmSync(out, { force: true });
  const before = load1();
  const steps: NonNullable<Measured["steps"]> = [];
  const step = async (name: string, cmd: string, args: string[]): Promise<void> => {
    const { seconds, rssKiB, cpuSeconds } = await timedRss(cmd, args);
    steps.push({ name, seconds, rssKiB, cpu: cpuSeconds });
  };
  await step("skopeo", "skopeo", [
    "--insecure-policy",
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    `docker://${ref}`,
    `oci:${oci}:${TAG}`,
  ]);
  await step("umoci", "umoci", ["unpack", "--rootless", "--image", `${oci}:${TAG}`, bundle]);
  const level = cfg.comp === "gzip" ? ["-Xcompression-level", String(cfg.level)] : [];
  await step("mksquashfs", "mksquashfs", [
    join(bundle, "rootfs"),
    out,
    "-comp",
    cfg.comp,
    ...level,
    "-b",
    String(BLOCK_SIZE),
    "-processors",
    "2",
    "-noappend",
    "-quiet",
    "-no-progress",
  ]);
  const after = load1();
  rmSync(oci, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
  const rss = steps.map((s) => s.rssKiB).filter((r): r is number => r !== undefined);
  return {
    seconds: steps.reduce((a, s) => a + s.seconds, 0),
    size: statSync(out).size,
    rssKiB: rss.length > 0 ? Math.max(...rss) : undefined,
    cpu: steps.every((s) => s.cpu !== undefined) ? steps.reduce((a, s) => a + s.cpu!, 0) : undefined,
    steps,
    load: [before, after],
  };
}

/**
 * sqfsdiff, contents and permissions (-O), then with owners; reported, never fatal. "has an
 * extended type" lines (a directory written with an index by one side and not the other) are
 * encoding, not tree, differences and are counted apart.
 */
async function compareTrees(a: string, b: string): Promise<string> {
  const run = (args: string[]): Promise<{ code: number | null; out: string }> =>
    new Promise((res) => {
      const child = spawn("sqfsdiff", args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.on("error", (e) => res({ code: null, out: e.message }));
      child.once("close", (code) => res({ code, out }));
    });
  const describe = ({ code, out }: { code: number | null; out: string }, what: string): string => {
    const lines = out.split("\n").filter((l) => l.trim() !== "");
    const encoding = lines.filter((l) => l.endsWith("has an extended type")).length;
    const real = lines.filter((l) => !l.endsWith("has an extended type"));
    if (code === 0) return `${what} equal`;
    if (code === 1 && real.length === 0)
      return `${what} equal (${encoding} directories differ only in inode encoding)`;
    return `${what} DIFFER (exit ${code}, ${real.length} lines, ${encoding} encoding-only): ${real.slice(0, 4).join(" | ")}`;
  };
  return `${describe(await run(["-O", "-a", a, "-b", b]), "tree, contents and permissions")}; ${describe(await run(["-a", a, "-b", b]), "with owners")}`;
}

const mib = (kib: number | undefined): string =>
  kib === undefined ? "n/a" : `${(kib / 1024).toFixed(0)} MiB`;
const pad = (s: string, n: number): string => s.padEnd(n);
const cpu = (m: Measured): string => (m.cpu === undefined ? "n/a" : m.cpu.toFixed(0));

function table(rows: { run: number; cfg: Config; g: Measured; p: Measured }[]): string {
  const head = [
    pad("run config", 13),
    pad("gvmconv s", 10),
    pad("peers s (skopeo+umoci+mksquashfs)", 34),
    pad(`ratio [≤${TARGETS.ratio}]`, 17),
    pad("gvmconv B", 11),
    pad("peers B", 11),
    pad("size ratio", 11),
    pad(`gvm RSS [≤${TARGETS.rssMiB}]`, 20),
    pad("peers RSS", 10),
    pad("CPU s gvm/peers", 16),
    "load1 g/p",
  ];
  const out = [head.join(" ")];
  for (const { run, cfg, g, p } of rows) {
    const ratio = g.seconds / p.seconds;
    const rssMiB = g.rssKiB === undefined ? undefined : g.rssKiB / 1024;
    const steps = p.steps!.map((s) => s.seconds.toFixed(1)).join("+");
    out.push(
      [
        pad(`${run} ${cfg.name}`, 13),
        pad(g.seconds.toFixed(1), 10),
        pad(`${p.seconds.toFixed(1)} (${steps})`, 34),
        pad(`${ratio.toFixed(2)} ${verdict(ratio <= TARGETS.ratio)}`, 17),
        pad(String(g.size), 11),
        pad(String(p.size), 11),
        pad((g.size / p.size).toFixed(4), 11),
        pad(`${mib(g.rssKiB)} ${rssMiB === undefined ? "" : verdict(rssMiB <= TARGETS.rssMiB)}`, 20),
        pad(mib(p.rssKiB), 10),
        pad(`${cpu(g)}/${cpu(p)}`, 16),
        `${g.load[0].toFixed(1)}→${g.load[1].toFixed(1)} / ${p.load[0].toFixed(1)}→${p.load[1].toFixed(1)}`,
      ].join(" "),
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// --profile: gvmconv under --cpu-prof, top self time per thread

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

function summarizeProfile(file: string, top = 15): string {
  const prof = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const frame = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    const f = frame.get(prof.samples[i]!);
    if (f === undefined) continue;
    const url = f.url.replace(/^file:\/\//, "").replace(`${repo}/`, "");
    const key = `${f.functionName || "(anonymous)"}  ${url ? `${url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `  ${(total / 1e6).toFixed(1)} s sampled`,
    ...rows.map(
      ([k, us]) =>
        `  ${(us / 1e6).toFixed(2).padStart(7)} s ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`,
    ),
  ].join("\n");
}

async function profile(ref: string): Promise<void> {
  const dir = join(work, "prof");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cfg = CONFIGS[1]!;
  const g = await runGvmconv(ref, cfg, join(work, "run/gvmconv-prof.sqfs"), [
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
  ]);
  console.log(
    `\nprofile: gvmconv ${cfg.name} under --cpu-prof: ${g.seconds.toFixed(1)} s, ${mib(g.rssKiB)}; profiles in ${dir}`,
  );
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => ({ f, size: statSync(join(dir, f)).size }))
    .sort((a, b) => b.size - a.size);
  for (const { f } of files) {
    // Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
    const thread = f.split(".")[4];
    console.log(`${thread === "0" ? "main thread" : `worker thread ${thread}`} (${f}):`);
    console.log(summarizeProfile(join(dir, f)));
  }
}

/**
 * --phases: where gvmconv's time goes, by difference. cold (download included) − warm (blobs
 * already in --cache-dir) = download; warm at the level asked − warm at gzip 1 ≈ compression
 * beyond the cheapest; warm gzip 1 ≈ decompress + tar + merge + write + hash.
 */
async function phases(ref: string): Promise<void> {
  const out = join(work, "run/gvmconv-phases.sqfs");
  const cache = join(work, "run/gvmconv-cache");
  rmSync(cache, { recursive: true, force: true });
  const gz6 = CONFIGS[1]!;
  const cold = await runGvmconv(ref, gz6, out, [], true);
  const warm = await runGvmconv(ref, gz6, out, [], true);
  const warm1 = await runGvmconv(ref, { name: "gzip1", comp: "gzip", level: 1 }, out, [], true);
  rmSync(cache, { recursive: true, force: true });
  const s = (m: Measured): string =>
    `${m.seconds.toFixed(1)} s (CPU ${cpu(m)} s, ${mib(m.rssKiB)}, load ${m.load[0].toFixed(1)})`;
  console.log(
    [
      "\nphases (gvmconv gzip6, by difference):",
      `  cold cache ${s(cold)}; warm cache ${s(warm)}; warm cache at gzip 1 ${s(warm1)}`,
      `  download ≈ ${(cold.seconds - warm.seconds).toFixed(1)} s; gzip 6 over gzip 1 ≈ ${(warm.seconds - warm1.seconds).toFixed(1)} s; ` +
        `decompress + tar + merge + write + hash at gzip 1 ≈ ${warm1.seconds.toFixed(1)} s`,
    ].join("\n"),
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? "1");
  const wantProfile = args.includes("--profile");
  const wantPhases = args.includes("--phases");
  const names = args.filter((a) => !a.startsWith("--"));
  const configs = names.length === 0 ? CONFIGS : CONFIGS.filter((c) => names.includes(c.name));
  if (configs.length !== (names.length === 0 ? CONFIGS.length : names.length)) {
    throw new Error(
      `unknown config in ${names.join(" ")}; choose from ${CONFIGS.map((c) => c.name).join(" ")}`,
    );
  }
  if (!existsSync(cli)) throw new Error(`${cli} not built (npx tsc -p tsconfig.json)`);
  mkdirSync(work, { recursive: true });
  await buildImage();
  console.log(`image: ${readFileSync(`${layout}.complete`, "utf8").trim()}`);

  const runDir = join(work, "run");
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(join(runDir, "registry"), { recursive: true });
  const registry: RunningRegistry = await startRegistry(join(runDir, "registry"));
  try {
    const ref = `${registry.host}/${REPO_NAME}:${TAG}`;
    const t = Date.now();
    await skopeo("copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:${TAG}`, `docker://${ref}`);
    console.log(`pushed to ${ref} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    console.log(
      `targets: wall ≤ ${TARGETS.ratio}× the peers' pipeline, gvmconv peak RSS ≤ ${TARGETS.rssMiB} MiB; block ${BLOCK_SIZE}, 2 threads; load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    const rows: { run: number; cfg: Config; g: Measured; p: Measured }[] = [];
    const comparisons: string[] = [];
    for (let run = 1; run <= runs; run++) {
      for (const [i, cfg] of configs.entries()) {
        const gOut = join(runDir, `gvmconv-${cfg.name}.sqfs`);
        const pOut = join(runDir, `peers-${cfg.name}.sqfs`);
        let g: Measured;
        let p: Measured;
        // Alternate who goes first, so neither always runs on a warmer page cache.
        if ((i + run) % 2 === 0) {
          g = await runGvmconv(ref, cfg, gOut);
          p = await runPeers(ref, cfg, pOut);
        } else {
          p = await runPeers(ref, cfg, pOut);
          g = await runGvmconv(ref, cfg, gOut);
        }
        rows.push({ run, cfg, g, p });
        console.log(table([{ run, cfg, g, p }]).split("\n")[1]);
        if (run === 1) comparisons.push(`${cfg.name}: ${await compareTrees(pOut, gOut)}`);
      }
    }
    if (rows.length > 0) {
      console.log(`\n${table(rows)}`);
      console.log(`\ntrees (sqfsdiff -a peers -b gvmconv):\n  ${comparisons.join("\n  ")}`);
      console.log(
        `load average at end ${loadavg()
          .map((l) => l.toFixed(2))
          .join(" ")}`,
      );
    }
    if (wantPhases) await phases(ref);
    if (wantProfile) await profile(ref);
  } finally {
    await registry.stop();
    // Keep the outputs (bench/out/pipeline/run/*.sqfs) for a look; drop the registry's copy.
    rmSync(join(runDir, "registry"), { recursive: true, force: true });
  }
}

await main();
