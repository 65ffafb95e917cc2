/**
 * Benchmark (not a test): many small files (issue 12). Generated node_modules-like trees —
 * packages of ~20 entries per directory, 1–4 KiB text-like files, ~3% symlinks and ~1% hard
 * links, from a seeded PRNG so every machine builds the same tree — at 10k and 100k entries (and
 * 500k with `--500k`: slow on 2 cores). Each tree is imaged by gvmconv from the directory and from
 * a tar of it, by mksquashfs (from the directory) and by tar2sqfs (squashfs-tools-ng, from the tar),
 * all gzip level 6, 128 KiB blocks, 2 threads. Reports CPU seconds (user + system, all threads),
 * wall, peak RSS and size, the ratios gvmconv / mksquashfs and gvmconv / tar2sqfs, and each tool's
 * RSS per entry beyond a fixed base, fitted as a line through the two smallest sizes and through
 * the two largest.
 *
 * Usage: node build/bench/small-files.js [--500k] [--sizes=10000,100000] [--prepare]
 *   (scripts/bench.sh small; --prepare only generates the trees)
 * Trees and tars are cached under bench/out/small-N (gitignored).
 */
import { spawnSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { prng } from "../test/support/prng.js";
import { BLOCK_SIZE, timedRss } from "./squashfs.js";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const cli = join(repo, "dist/cli/main.js");
const out = join(repo, "bench/out");
const LEVEL = 6;
const WORDS =
  "module exports require function return const let var this prototype value index length push undefined null true false object string number async await promise then callback error".split(
    " ",
  );

/**
 * Writes a tree of exactly `entries` entries below `dir` (the root not counted): node_modules/
 * holds packages; a package holds ~20 entries (files, a few symlinks and hard links, and a lib/
 * directory of ~20 more).
 */
function makeTree(dir: string, entries: number): void {
  const rand = prng(entries);
  const pick = (n: number) => Math.floor(rand() * n);
  let count = 0;
  const text = (size: number) => {
    const parts: string[] = [];
    let n = 0;
    while (n < size) {
      const w = WORDS[pick(WORDS.length)]! + (pick(8) === 0 ? ";\n" : " ");
      parts.push(w);
      n += w.length;
    }
    return parts.join("").slice(0, size);
  };
  const nm = join(dir, "node_modules");
  mkdirSync(nm, { recursive: true });
  count++;
  // One directory's worth: files until ~20 entries, some of them links to earlier files.
  const fill = (d: string) => {
    const files: string[] = [];
    const want = 15 + pick(11);
    for (let i = 0; i < want && count < entries; i++) {
      const r = rand();
      const name = `f${i}-${WORDS[pick(WORDS.length)]}.js`;
      if (files.length > 0 && r < 0.03) symlinkSync(files[pick(files.length)]!, join(d, name));
      else if (files.length > 0 && r < 0.04) linkSync(join(d, files[pick(files.length)]!), join(d, name));
      else {
        writeFileSync(join(d, name), text(1024 + pick(3073)));
        files.push(name);
      }
      count++;
    }
  };
  for (let p = 0; count < entries; p++) {
    const pkg = join(nm, `pkg${p}`);
    mkdirSync(pkg);
    count++;
    fill(pkg);
    if (count < entries) {
      mkdirSync(join(pkg, "lib"));
      count++;
      fill(join(pkg, "lib"));
    }
  }
}

function prepare(entries: number): { dir: string; tar: string } {
  const dir = join(out, `small-${entries}`);
  const tar = `${dir}.tar`;
  if (!existsSync(`${dir}.complete`)) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(tar, { force: true });
    mkdirSync(dir, { recursive: true });
    makeTree(dir, entries);
    // GNU tar keeps hard links as link entries; sorted names make the tar reproducible.
    const r = spawnSync("tar", ["--sort=name", "-C", dir, "-cf", tar, "."], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("tar failed");
    writeFileSync(`${dir}.complete`, "");
  }
  return { dir, tar };
}

interface Row {
  tool: string;
  seconds: number;
  cpu: number;
  rssKiB: number;
  size: number;
}

async function run(tool: string, cmd: string, args: string[], image: string): Promise<Row> {
  rmSync(image, { force: true });
  rmSync(join(out, "images", `.${image.split("/").pop()!}.gvmconv.json`), { force: true });
  const r = await timedRss(cmd, args);
  if (r.cpuSeconds === undefined || r.rssKiB === undefined)
    throw new Error("needs /usr/bin/time (Debian: time)");
  return { tool, seconds: r.seconds, cpu: r.cpuSeconds, rssKiB: r.rssKiB, size: statSync(image).size };
}

async function measure(entries: number): Promise<Row[]> {
  const { dir, tar } = prepare(entries);
  const img = (name: string) => join(out, "images", `small-${entries}-${name}.img`);
  mkdirSync(join(out, "images"), { recursive: true });
  const gv = (src: string, image: string) => [
    cli,
    "squashfs",
    src,
    "-o",
    image,
    "--compression",
    "gzip",
    "--level",
    String(LEVEL),
    "--block-size",
    String(BLOCK_SIZE),
    "--workers",
    "2",
    "--force",
    "--quiet",
  ];
  // Warm the page, dentry and inode caches first, so that no tool pays for a cold tree alone
  // (the first one measured did: 90 s from a cold 500k-entry directory against 50 s warm).
  const warm = spawnSync(
    "sh",
    ["-c", 'tar -C "$1" -cf - . | cat > /dev/null && cat "$2" > /dev/null', "sh", dir, tar],
    {
      stdio: "inherit",
    },
  );
  if (warm.status !== 0) throw new Error("warming the caches failed");
  const rows: Row[] = [];
  rows.push(await run("gvmconv dir", process.execPath, gv(dir, img("gvmconv-dir")), img("gvmconv-dir")));
  rows.push(await run("gvmconv tar", process.execPath, gv(tar, img("gvmconv-tar")), img("gvmconv-tar")));
  rows.push(
    await run(
      "mksquashfs",
      "mksquashfs",
      [dir, img("mksquashfs"), "-noappend", "-quiet", "-no-progress", "-comp", "gzip"].concat([
        "-Xcompression-level",
        String(LEVEL),
        "-b",
        String(BLOCK_SIZE),
        "-processors",
        "2",
      ]),
      img("mksquashfs"),
    ),
  );
  // tar2sqfs reads the tar on stdin; a shell gives it the redirection under /usr/bin/time.
  rows.push(
    await run(
      "tar2sqfs",
      "sh",
      [
        "-c",
        `exec tar2sqfs -q -f -c gzip -X level=${LEVEL} -j 2 -b ${BLOCK_SIZE} "$1" < "$2"`,
        "sh",
        img("tar2sqfs"),
        tar,
      ],
      img("tar2sqfs"),
    ),
  );
  return rows;
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error(`${cli} not built (npx tsc -p tsconfig.json)`);
  const sizesArg = process.argv.find((a) => a.startsWith("--sizes="));
  const sizes = sizesArg
    ? sizesArg.slice("--sizes=".length).split(",").map(Number)
    : [10_000, 100_000, ...(process.argv.includes("--500k") ? [500_000] : [])];
  if (process.argv.includes("--prepare")) {
    // Only generate the trees and tars (slow at 500k and more), to measure later.
    for (const n of sizes) prepare(n);
    return;
  }
  console.log(`gzip level ${LEVEL}, block ${BLOCK_SIZE}, 2 threads; CPU = user + system seconds`);
  const all = new Map<number, Row[]>();
  for (const n of sizes) {
    const rows = await measure(n);
    all.set(n, rows);
    const m = rows.find((r) => r.tool === "mksquashfs")!;
    const t = rows.find((r) => r.tool === "tar2sqfs")!;
    console.log(`\n${n} entries:`);
    console.log(
      "  tool          CPU s   wall s   RSS MiB   size B      CPU/mks CPU/t2s wall/mks wall/t2s RSS/mks RSS/t2s size/mks size/t2s",
    );
    for (const r of rows) {
      const ratio = (a: number, b: number) => (a / b).toFixed(2).padStart(7);
      console.log(
        `  ${r.tool.padEnd(12)} ${r.cpu.toFixed(2).padStart(6)} ${r.seconds.toFixed(2).padStart(8)} ${(r.rssKiB / 1024).toFixed(1).padStart(9)}  ${String(r.size).padEnd(11)}` +
          ` ${ratio(r.cpu, m.cpu)} ${ratio(r.cpu, t.cpu)} ${ratio(r.seconds, m.seconds)}  ${ratio(r.seconds, t.seconds)} ${ratio(r.rssKiB, m.rssKiB)} ${ratio(r.rssKiB, t.rssKiB)} ${(r.size / m.size).toFixed(4).padStart(8)} ${(r.size / t.size).toFixed(4).padStart(8)}`,
      );
    }
  }
  // RSS per entry beyond a fixed base: a line through two sizes. Through the two smallest, and
  // through the two largest: by 100k entries the fixed-size pools (V8's young generation, the
  // workers' heaps) have filled, so the larger pair shows what each further entry costs.
  const ns = [...all.keys()].sort((x, y) => x - y);
  const fits: [number, number][] = [];
  if (ns.length >= 2) fits.push([ns[0]!, ns[1]!]);
  if (ns.length >= 3) fits.push([ns[ns.length - 2]!, ns[ns.length - 1]!]);
  for (const [a, b] of fits) {
    console.log(`\nRSS per entry beyond a fixed base (fit through ${a} and ${b} entries; target ≤ 512 B):`);
    for (const r of all.get(a)!) {
      const rb = all.get(b)!.find((x) => x.tool === r.tool)!;
      const slope = ((rb.rssKiB - r.rssKiB) * 1024) / (b - a);
      const base = r.rssKiB / 1024 - (slope * a) / 1048576;
      console.log(
        `  ${r.tool.padEnd(12)} ${slope.toFixed(0).padStart(6)} B/entry  base ${base.toFixed(1)} MiB`,
      );
    }
  }
}

await main();
