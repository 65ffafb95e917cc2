/**
 * Benchmark (not a test): `gvmconv squashfs` (the built dist/cli/main.js) against mksquashfs on
 * the same tree, same compressor, level and block size, both with 2 compression threads.
 * Prints wall times, sizes, their ratios and gvmconv's peak RSS beside the targets.
 *
 * Usage: node build/bench/squashfs.js <label>=<dir> ...   (scripts/bench.sh prepares the trees)
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const cli = join(repo, "dist/cli/main.js");
const outDir = join(repo, "bench/out/images");
export const BLOCK_SIZE = 131072;
/**
 * mksquashfs's xz has no level option and uses liblzma's default preset, 6; gzip we pin to 6 on both
 * sides. lzo: both sides' default, lzo1x_999 level 8. lz4: gvmconv's level 1 is HC, mksquashfs's
 * -Xhc (what gvmkit-build passes).
 */
export const LEVEL: Record<string, number> = { gzip: 6, xz: 6, lzo: 8, lz4: 1 };
/** mksquashfs's arguments for each compressor beyond -comp. */
const MKSQUASHFS_ARGS: Record<string, string[]> = {
  gzip: ["-Xcompression-level", String(LEVEL["gzip"])],
  xz: [],
  lzo: [],
  lz4: ["-Xhc"],
};
const TARGETS = { wall: 1.0, size: 1.005, rssMiB: 256 };

interface Run {
  seconds: number;
  size: number;
  rssKiB?: number;
  cpuSeconds?: number;
}

/**
 * Compressors: `BENCH_COMP` (default `gzip,xz,lzo,lz4`). Pairs per case (`BENCH_RUNS`, default 3). One run each swung ratios by ±30% on these shared
 * 2-core machines; alternating the tools and taking medians keeps one noisy moment from deciding.
 */
const RUNS = Math.max(1, Number(process.env["BENCH_RUNS"] ?? 3) || 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function timed(cmd: string, args: string[]): Promise<{ seconds: number; stderr: string }> {
  const start = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("close", r));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${stderr}`);
  return { seconds, stderr };
}

async function mksquashfs(src: string, out: string, comp: string): Promise<Run> {
  rmSync(out, { force: true });
  const args = [
    src,
    out,
    "-noappend",
    "-quiet",
    "-no-progress",
    "-comp",
    comp,
    ...(MKSQUASHFS_ARGS[comp] ?? []),
    "-b",
    String(BLOCK_SIZE),
    "-processors",
    "2",
  ];
  const { seconds, cpuSeconds } = await timedRss("mksquashfs", args);
  return { seconds, size: statSync(out).size, cpuSeconds };
}

async function gvmconv(src: string, out: string, comp: string): Promise<Run> {
  rmSync(out, { force: true });
  const args = [
    "squashfs",
    src,
    "-o",
    out,
    "--compression",
    comp,
    "--level",
    String(LEVEL[comp]),
    "--block-size",
    String(BLOCK_SIZE),
    "--workers",
    "2",
    "--quiet",
  ];
  const { seconds, rssKiB, cpuSeconds } = await timedRss(process.execPath, [cli, ...args]);
  return { seconds, size: statSync(out).size, rssKiB, cpuSeconds };
}

/**
 * `timed`, plus the command's peak RSS in KiB from GNU time's %M (Debian package `time`; the
 * process's ru_maxrss, so worker threads are included) and its CPU seconds (user + system, all
 * threads; steadier than wall time on a busy machine), or undefined without /usr/bin/time.
 */
export async function timedRss(
  cmd: string,
  args: string[],
): Promise<{ seconds: number; stderr: string; rssKiB?: number; cpuSeconds?: number }> {
  if (!existsSync("/usr/bin/time")) return await timed(cmd, args);
  const { seconds, stderr } = await timed("/usr/bin/time", ["-f", "RSS_KIB=%M CPU=%U+%S", cmd, ...args]);
  const m = /RSS_KIB=(\d+) CPU=([\d.]+)\+([\d.]+)\s*$/.exec(stderr);
  return m
    ? { seconds, stderr, rssKiB: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]) }
    : { seconds, stderr };
}

export function verdict(ok: boolean): string {
  return ok ? "ok" : "MISSED";
}

async function main(): Promise<void> {
  const cases = process.argv.slice(2).map((a) => {
    const eq = a.indexOf("=");
    return eq < 0 ? { label: a, dir: a } : { label: a.slice(0, eq), dir: a.slice(eq + 1) };
  });
  if (cases.length === 0) throw new Error("usage: squashfs.js <label>=<dir> ...");
  if (!existsSync(cli)) throw new Error(`${cli} not built (npx tsc -p tsconfig.json)`);
  mkdirSync(outDir, { recursive: true });
  console.log(
    `targets: wall ≤ ${TARGETS.wall}× mksquashfs, size ≤ ${TARGETS.size}×, peak RSS ≤ ${TARGETS.rssMiB} MiB`,
  );
  console.log(
    `${RUNS} alternating runs per case; times and the wall ratio are medians (each pair's ratio in brackets)`,
  );
  for (const { label, dir } of cases) {
    for (const comp of (process.env["BENCH_COMP"] ?? "gzip,xz,lzo,lz4").split(",")) {
      const ms: Run[] = [];
      const gs: Run[] = [];
      try {
        for (let i = 0; i < RUNS; i++) {
          ms.push(await mksquashfs(dir, join(outDir, `${label}-mksquashfs-${comp}.img`), comp));
          gs.push(await gvmconv(dir, join(outDir, `${label}-gvmconv-${comp}.img`), comp));
        }
      } catch (err) {
        console.log(`${label} ${comp}: FAILED: ${(err as Error).message.split("\n").slice(0, 3).join(" ")}`);
        continue;
      }
      const pairs = gs.map((g, i) => g.seconds / ms[i]!.seconds);
      const wall = median(pairs);
      const g = gs[0]!;
      const m = ms[0]!;
      const size = g.size / m.size;
      const rss = gs.map((r) => r.rssKiB).filter((k): k is number => k !== undefined);
      const rssMiB = rss.length === 0 ? undefined : Math.max(...rss) / 1024;
      const cpu = (runs: Run[]) => {
        const c = runs.map((r) => r.cpuSeconds).filter((x): x is number => x !== undefined);
        return c.length === 0 ? "n/a" : `${median(c).toFixed(2)} s`;
      };
      console.log(
        [
          `${label} ${comp} (level ${LEVEL[comp]}, block ${BLOCK_SIZE}):`,
          `  wall   gvmconv ${median(gs.map((r) => r.seconds)).toFixed(2)} s  mksquashfs ${median(ms.map((r) => r.seconds)).toFixed(2)} s  ratio ${wall.toFixed(3)} [${pairs.map((p) => p.toFixed(2)).join(" ")}]  [${verdict(wall <= TARGETS.wall)}]`,
          `  cpu    gvmconv ${cpu(gs)}  mksquashfs ${cpu(ms)}`,
          `  size   gvmconv ${g.size} B  mksquashfs ${m.size} B  ratio ${size.toFixed(4)}  [${verdict(size <= TARGETS.size)}]`,
          `  rss    gvmconv ${rssMiB === undefined ? "n/a" : `${rssMiB.toFixed(1)} MiB (worst run)`}  [${rssMiB === undefined ? "n/a" : verdict(rssMiB <= TARGETS.rssMiB)}]`,
        ].join("\n"),
      );
    }
  }
}

// Run only as a script: bench/pipeline.ts imports the helpers above.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main();
