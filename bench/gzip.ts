/**
 * Benchmark (not a test): gzip encoders side by side on the same trees, 128 KiB blocks, 2 threads
 * each — gvmconv with Node's zlib (6, 9) and with libdeflate (6, 9, 10, 11, 12), `mksquashfs -comp gzip`
 * (its default level 9) and squashfs-tools-ng's `tar2sqfs` (gzip, its default level 9, reading a
 * tar of the tree: it has no directory input). Each row gives wall, CPU, size and peak RSS as
 * ratios to mksquashfs's, then, for the incompressible-block check, how many blocks it stored raw
 * that the default encoder would have shrunk, and by how much.
 *
 * Usage: node build/bench/gzip.js <label>=<dir> ...   (scripts/bench.sh prepares the trees)
 * BENCH_RUNS (default 3): alternating runs per tool; medians. BENCH_GZIP_ONLY: a comma-separated
 * subset of the tools by label ("libdeflate 1" for levels 10–12), mksquashfs always included.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  closeSync,
  rmSync,
  statSync,
  lstatSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createCompressor } from "../src/squashfs/index.js";
import { looksIncompressible } from "../src/squashfs/compressor/incompressible.js";
import { BLOCK_SIZE, timedRss, verdict } from "./squashfs.js";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const cli = join(repo, "dist/cli/main.js");
const outDir = join(repo, "bench/out/images");
const RUNS = Math.max(1, Number(process.env["BENCH_RUNS"] ?? 3) || 3);

interface Run {
  seconds: number;
  cpu: number;
  size: number;
  rssMiB: number;
}

interface Tool {
  label: string;
  run(dir: string, tar: string, out: string): Promise<Run>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function measure(cmd: string, args: string[], out: string): Promise<Run> {
  const r = await timedRss(cmd, args);
  return {
    seconds: r.seconds,
    cpu: r.cpuSeconds ?? NaN,
    size: statSync(out).size,
    rssMiB: (r.rssKiB ?? NaN) / 1024,
  };
}

function gvmconv(backend: "zlib" | "libdeflate", level: number): Tool {
  return {
    label: `gvmconv ${backend} ${level}`,
    async run(dir, _tar, out) {
      rmSync(out, { force: true });
      const args = ["squashfs", dir, "-o", out, "--level", String(level), "--block-size", String(BLOCK_SIZE)];
      process.env["GVMCONV_GZIP_BACKEND"] = backend;
      try {
        return await measure(process.execPath, [cli, ...args, "--workers", "2", "--quiet"], out);
      } finally {
        delete process.env["GVMCONV_GZIP_BACKEND"];
      }
    },
  };
}

const mksquashfs: Tool = {
  label: "mksquashfs gzip 9",
  async run(dir, _tar, out) {
    rmSync(out, { force: true });
    const args = [dir, out, "-noappend", "-quiet", "-no-progress", "-comp", "gzip", "-b", String(BLOCK_SIZE)];
    return await measure("mksquashfs", [...args, "-processors", "2"], out);
  },
};

const tar2sqfs: Tool = {
  label: "tar2sqfs gzip 9",
  async run(_dir, tar, out) {
    rmSync(out, { force: true });
    // tar2sqfs reads the tar on stdin; sh does the redirection so that /usr/bin/time sees tar2sqfs.
    const script = `exec tar2sqfs -q -f -c gzip -b ${BLOCK_SIZE} -j 2 "$1" < "$2"`;
    return await measure("sh", ["-c", script, "sh", out, tar], out);
  },
};

const ALL_TOOLS: Tool[] = [
  mksquashfs,
  tar2sqfs,
  gvmconv("zlib", 6),
  gvmconv("zlib", 9),
  gvmconv("libdeflate", 6),
  gvmconv("libdeflate", 9),
  gvmconv("libdeflate", 10),
  gvmconv("libdeflate", 11),
  gvmconv("libdeflate", 12),
];
/** BENCH_GZIP_ONLY="zlib,libdeflate 12": only the tools whose label holds one of these (mksquashfs always). */
const ONLY = (process.env["BENCH_GZIP_ONLY"] ?? "").split(",").filter((x) => x !== "");
const TOOLS = ALL_TOOLS.filter(
  (t) => t === mksquashfs || ONLY.length === 0 || ONLY.some((o) => t.label.includes(o)),
);

/** Every regular file under `dir`, sorted (symlinks not followed). */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * The check's honesty: every full data block of the tree's files (fragments and tails are too
 * small to be checked), the ones it stores raw, and what the default encoder (libdeflate 6) and
 * the smallest (libdeflate 12) would have made of those.
 */
function incompressibleReport(dir: string): string {
  const deflate6 = createCompressor({
    name: "gzip",
    level: 6,
    blockSize: BLOCK_SIZE,
    gzipBackend: "libdeflate",
  });
  const deflate12 = createCompressor({
    name: "gzip",
    level: 12,
    blockSize: BLOCK_SIZE,
    gzipBackend: "libdeflate",
  });
  const block = Buffer.alloc(BLOCK_SIZE);
  let blocks = 0;
  let skipped = 0;
  let shrunk6 = 0;
  let saved6 = 0;
  let shrunk12 = 0;
  let saved12 = 0;
  const start = process.hrtime.bigint();
  for (const file of files(dir)) {
    const fd = openSync(file, "r");
    try {
      for (;;) {
        const n = readSync(fd, block, 0, BLOCK_SIZE, null);
        if (n < BLOCK_SIZE) break;
        blocks++;
        if (!looksIncompressible(block)) continue;
        skipped++;
        const a = deflate6.compressSync(block).length;
        if (a < BLOCK_SIZE) {
          shrunk6++;
          saved6 += BLOCK_SIZE - a;
        }
        const b = deflate12.compressSync(block).length;
        if (b < BLOCK_SIZE) {
          shrunk12++;
          saved12 += BLOCK_SIZE - b;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return (
    `  incompressible check: ${blocks} full blocks, ${skipped} stored raw unchecked; of those, libdeflate 6 would ` +
    `have shrunk ${shrunk6} by ${saved6} B in all, libdeflate 12 ${shrunk12} by ${saved12} B (scan ${secs.toFixed(1)} s)`
  );
}

async function main(): Promise<void> {
  const cases = process.argv.slice(2).map((a) => {
    const eq = a.indexOf("=");
    return eq < 0 ? { label: a, dir: a } : { label: a.slice(0, eq), dir: a.slice(eq + 1) };
  });
  if (cases.length === 0) throw new Error("usage: gzip.js <label>=<dir> ...");
  if (!existsSync(cli)) throw new Error(`${cli} not built (npx tsc -p tsconfig.json)`);
  mkdirSync(outDir, { recursive: true });
  console.log(
    "gzip encoders, 128 KiB blocks, 2 threads; ratios to mksquashfs -comp gzip (level 9). Targets (issue 12): " +
      "default ≤ 1.0× size at ≤ 0.5× wall; libdeflate 12 ≤ 1.0× wall",
  );
  for (const { label, dir } of cases) {
    const tar = join(repo, "bench/out", `${label}.tar`);
    if (!existsSync(tar)) execFileSync("tar", ["--numeric-owner", "-C", dir, "-cf", tar, "."]);
    const runs = new Map<Tool, Run[]>(TOOLS.map((t) => [t, []]));
    try {
      for (let i = 0; i < RUNS; i++)
        for (const tool of TOOLS)
          runs
            .get(tool)!
            .push(
              await tool.run(dir, tar, join(outDir, `${label}-gzip-${tool.label.replace(/ /g, "-")}.img`)),
            );
    } catch (err) {
      console.log(`${label}: FAILED: ${(err as Error).message.split("\n").slice(0, 3).join(" ")}`);
      continue;
    }
    const base = runs.get(mksquashfs)!;
    const bw = median(base.map((r) => r.seconds));
    const bc = median(base.map((r) => r.cpu));
    const bs = base[0]!.size;
    const br = Math.max(...base.map((r) => r.rssMiB));
    console.log(
      `${label} (${RUNS} runs each, medians; mksquashfs: ${bw.toFixed(2)} s wall, ${bc.toFixed(2)} s CPU, ${bs} B, ${br.toFixed(0)} MiB):`,
    );
    for (const tool of TOOLS) {
      const rs = runs.get(tool)!;
      const w = median(rs.map((r) => r.seconds));
      const c = median(rs.map((r) => r.cpu));
      const s = rs[0]!.size;
      const m = Math.max(...rs.map((r) => r.rssMiB));
      const goal =
        tool.label === "gvmconv libdeflate 6"
          ? `  default goal: size ${verdict(s <= bs)}, wall ${verdict(w / bw <= 0.5)}`
          : tool.label === "gvmconv libdeflate 12"
            ? `  level-12 goal: wall ${verdict(w / bw <= 1)}`
            : "";
      console.log(
        `  ${tool.label.padEnd(22)} wall ${w.toFixed(2).padStart(6)} s ${(w / bw).toFixed(3)}×  cpu ${c.toFixed(2).padStart(6)} s ${(c / bc).toFixed(3)}×  ` +
          `size ${String(s).padStart(10)} B ${(s / bs).toFixed(4)}×  rss ${m.toFixed(0).padStart(4)} MiB ${(m / br).toFixed(2)}×${goal}`,
      );
    }
    console.log(incompressibleReport(dir));
  }
}

await main();
