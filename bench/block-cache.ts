/**
 * Benchmark (not a test): a re-conversion whose data blocks are all in the block cache against a
 * cold one (issue 12: ≥ 5× faster), on a generated ~1 GiB tree (bench/out/cache-input: 1024
 * files of 1 MiB, three quarters text-like, one quarter random; deterministic, gitignored).
 * Rows: no cache, cold cache (empty: every block compressed and stored), warm cache (every block
 * served, marked by this machine's secret), and the warm cache as restored on another machine (CI
 * restoring a cache: another secret, so every entry is decompressed before it is served), each
 * with wall, CPU and peak RSS; the images must be byte-identical. The secrets live under
 * bench/out (XDG_STATE_HOME), not in the user's own state directory.
 *
 * Usage: node build/bench/block-cache.js   (BENCH_RUNS, default 1: warm/cold pairs)
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { timedRss, verdict } from "./squashfs.js";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const cli = join(repo, "dist/cli/main.js");
const out = join(repo, "bench/out");
const input = join(out, "cache-input");
const cacheDir = join(out, "block-cache");
const stateDir = join(out, "state");
const foreignStateDir = join(out, "state-elsewhere");
const RUNS = Math.max(1, Number(process.env["BENCH_RUNS"] ?? 1) || 1);
const FILES = 1024;
const FILE_SIZE = 1 << 20;

/** The input tree, made once: text from a word list (a cheap LCG), every 4th file random bytes. */
function makeInput(): void {
  if (existsSync(`${input}.complete`)) return;
  rmSync(input, { recursive: true, force: true });
  const words = "the quick brown fox jumps over a lazy dog golem image layer block cache provider".split(" ");
  for (let f = 0; f < FILES; f++) {
    const dir = join(input, String(f % 32).padStart(2, "0"));
    mkdirSync(dir, { recursive: true });
    let buf: Buffer;
    if (f % 4 === 3) {
      buf = Buffer.alloc(FILE_SIZE);
      let seed = createHash("sha256").update(`random ${f}`).digest();
      for (let o = 0; o < FILE_SIZE; o += 32) {
        seed = createHash("sha256").update(seed).digest();
        seed.copy(buf, o);
      }
    } else {
      const parts: string[] = [];
      let n = 0;
      let k = f + 1;
      while (n < FILE_SIZE) {
        k = (Math.imul(k, 1103515245) + 12345) >>> 0;
        const w = `${words[k % words.length]}${k % 1000}${k % 17 === 0 ? "\n" : " "}`;
        parts.push(w);
        n += w.length;
      }
      buf = Buffer.from(parts.join("")).subarray(0, FILE_SIZE);
    }
    writeFileSync(join(dir, `f${f}.dat`), buf);
  }
  writeFileSync(`${input}.complete`, "");
}

interface Row {
  seconds: number;
  cpu: number;
  rssMiB: number;
  sha: string;
}

async function convert(name: string, cache: boolean, state = stateDir): Promise<Row> {
  const image = join(out, "images", `cache-${name}.img`);
  rmSync(image, { force: true });
  const env = process.env;
  const home = env["XDG_STATE_HOME"];
  env["XDG_STATE_HOME"] = state;
  if (cache) env["GVMCONV_BLOCK_CACHE"] = cacheDir;
  else delete env["GVMCONV_BLOCK_CACHE"];
  try {
    const r = await timedRss(process.execPath, [
      cli,
      "squashfs",
      input,
      "-o",
      image,
      "--workers",
      "2",
      "--quiet",
    ]);
    const sha = createHash("sha256").update(readFileSync(image)).digest("hex");
    return { seconds: r.seconds, cpu: r.cpuSeconds ?? NaN, rssMiB: (r.rssKiB ?? NaN) / 1024, sha };
  } finally {
    delete env["GVMCONV_BLOCK_CACHE"];
    if (home === undefined) delete env["XDG_STATE_HOME"];
    else env["XDG_STATE_HOME"] = home;
  }
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error(`${cli} not built (npx tsc -p tsconfig.json)`);
  mkdirSync(join(out, "images"), { recursive: true });
  makeInput();
  console.log(
    `block cache: ${FILES} files of 1 MiB (${FILES} MiB), gzip default, 2 workers; goal warm ≤ 0.2× cold`,
  );
  const rows: { label: string; row: Row }[] = [];
  for (let i = 0; i < RUNS; i++) {
    rows.push({ label: "no cache", row: await convert("none", false) });
    rmSync(cacheDir, { recursive: true, force: true });
    rows.push({ label: "cold cache", row: await convert("cold", true) });
    rows.push({ label: "warm cache", row: await convert("warm", true) });
    // A fresh secret each time: none of the entries is marked by it.
    rmSync(foreignStateDir, { recursive: true, force: true });
    rows.push({ label: "warm, restored", row: await convert("restored", true, foreignStateDir) });
  }
  let cacheBytes = 0;
  try {
    cacheBytes = Number(
      (await import("node:child_process"))
        .execFileSync("du", ["-sb", cacheDir], { encoding: "utf8" })
        .split("\t")[0],
    );
  } catch {
    // du missing: size not shown.
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const of = (label: string): Row[] => rows.filter((r) => r.label === label).map((r) => r.row);
  const cold = of("cold cache");
  const warm = of("warm cache");
  for (const label of ["no cache", "cold cache", "warm cache", "warm, restored"]) {
    const rs = of(label);
    console.log(
      `  ${label.padEnd(14)} wall ${median(rs.map((r) => r.seconds)).toFixed(2)} s  cpu ${median(rs.map((r) => r.cpu)).toFixed(2)} s  ` +
        `rss ${Math.max(...rs.map((r) => r.rssMiB)).toFixed(0)} MiB`,
    );
  }
  const wallOf = (label: string): number => median(of(label).map((r) => r.seconds));
  const wall = median(warm.map((r) => r.seconds)) / median(cold.map((r) => r.seconds));
  const cpu = median(warm.map((r) => r.cpu)) / median(cold.map((r) => r.cpu));
  const same = new Set(rows.map((r) => r.row.sha)).size === 1;
  console.log(
    `  warm / cold: wall ${wall.toFixed(3)}× (${(1 / wall).toFixed(1)}× faster) [${verdict(wall <= 0.2)}], cpu ${cpu.toFixed(3)}×; ` +
      `images byte-identical: ${same ? "yes" : "NO"}; cache ${cacheBytes} B for an image of ${statSync(join(out, "images", "cache-warm.img")).size} B`,
  );
  console.log(
    `  warm / no cache: wall ${(wallOf("warm cache") / wallOf("no cache")).toFixed(3)}×; ` +
      `restored / cold: wall ${(wallOf("warm, restored") / wallOf("cold cache")).toFixed(3)}×, ` +
      `restored / no cache: ${(wallOf("warm, restored") / wallOf("no cache")).toFixed(3)}×`,
  );
}

await main();
