/**
 * The pipeline reads a layer while it downloads: a real docker-registry on 127.0.0.1 behind the
 * hostile relay (test/support/hostile-registry.ts), whose `pause` holds the rest of a blob. While
 * the registry holds it, the writer must already be consuming the layer (its writing progress and
 * the temporary output grow, and the blob is not in the cache yet); a blob with a wrong digest
 * still fails the run with E_OCI_DIGEST_MISMATCH and leaves no output and no cache entry; a
 * download cut off and resumed with Range streams on; the output is the same bytes whether the
 * layers were streamed, read back from a warm cache, or read from an OCI layout on disk; and a
 * layer the merge reads a second time (a hard link to a file it dropped) comes from the cache.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execFileSync } from "node:child_process";
import {
  convert,
  type GvmconvError,
  type ProgressTask,
  type Reporter,
  type TaskOptions,
} from "../../src/index.js";
import {
  assembleImage,
  buildImage,
  hermeticEnv,
  pushImage,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import { startHostileRegistry, type HostileRegistry } from "../support/hostile-registry.js";
import { packTar } from "../support/tar.js";
import { missingTools, noise } from "./support.js";

const skip = missingTools("docker-registry", "skopeo", "unsquashfs");

/** Where the relay holds the base layer's blob: well inside it, past a few whole files. */
const HOLD_AT = 1536 * 1024;
/** Base-layer files: whole 128 KiB blocks each, so written blocks follow the bytes read closely. */
const FILE_SIZE = 256 * 1024;
const FILES = 24;

let work: string;
let backend: RunningRegistry;
let hostile: HostileRegistry;
let image: BuiltImage;
let base: string;
let n = 0;
const fresh = (what: string): string => join(work, `${what}-${n++}`);

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-layer-streaming-");
  backend = await startRegistry(join(work, "storage"));
  const files: Record<string, string> = {};
  // base64 of noise: gzip shrinks it to ~3/4, so the blob is ~4.5 MiB and HOLD_AT is a third in.
  for (let i = 0; i < FILES; i++) {
    files[`data/f${String(i).padStart(2, "0")}.txt`] = noise((FILE_SIZE * 3) / 4, `stream-${i}`)
      .toString("base64")
      .slice(0, FILE_SIZE);
  }
  image = await buildImage({
    layers: [
      { files, compression: "gzip" },
      { files: { "etc/hostname": "golem\n" }, compression: "gzip" },
    ],
  });
  base = image.layerDigests[0] ?? "";
  assert.ok((image.blobs.get(base)?.length ?? 0) > 2 * HOLD_AT, "the base blob is well past the hold");
  await pushImage(image, `${backend.host}/stream/img:1`, work);
  hostile = await startHostileRegistry({ backendPort: backend.port });
});

after(async () => {
  if (skip) return;
  await hostile.stop();
  await backend.stop();
  await rm(work, { recursive: true, force: true });
});

/** Records the writing bar's advances. */
class WriteRecorder implements Reporter {
  written = 0;
  warn(): void {}
  info(): void {}
  task(_label: string, _total?: number, options?: TaskOptions): ProgressTask {
    const write = options?.kind === "write";
    return {
      advance: (b) => {
        if (write) this.written += b;
      },
      setTotal() {},
      done() {},
    };
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir).catch((): string[] => [])).sort();
}

const sha256 = async (path: string): Promise<string> =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

async function run(
  source: string,
  dir: string,
  cacheDir: string,
  reporter?: Reporter,
): ReturnType<typeof convert> {
  await mkdir(dir, { recursive: true });
  return await convert(source, {
    output: join(dir, "img.gvmi"),
    image: { cacheDir, retries: 2, retryDelayMs: 1 },
    env: hermeticEnv(work),
    dotenv: false,
    ...(reporter !== undefined ? { reporter } : {}),
  });
}

let reference: string | undefined;
/** The output from the OCI layout on disk: no download, no streaming. */
async function referenceDigest(): Promise<string> {
  if (reference === undefined) {
    const dir = fresh("out");
    await run(`oci:${join(work, "layout")}:x`, dir, fresh("cache"));
    reference = await sha256(join(dir, "img.gvmi"));
  }
  return reference;
}

test(
  "the writer consumes the base layer while the registry holds the rest of its blob",
  { skip },
  async () => {
    hostile.reset();
    hostile.fault({ on: { digest: base }, mode: { kind: "pause", after: HOLD_AT }, times: 1 });
    const out = fresh("out");
    const cacheDir = fresh("cache");
    const reporter = new WriteRecorder();
    const converting = run(`${hostile.host}/stream/img:1`, out, cacheDir, reporter);
    converting.catch(() => undefined);
    try {
      await hostile.paused();
      // The top layer is a few bytes; anything past 512 KiB written is the held base layer's.
      await until("the writing bar to move into the base layer", async () => reporter.written > 512 * 1024);
      await until("the temporary output to hold base-layer blocks", async () => {
        for (const f of await list(out)) {
          if ((await stat(join(out, f))).size > 256 * 1024) return true;
        }
        return false;
      });
      // Still held: the blob is neither complete nor admitted, and no output is in place yet.
      const partial = join(cacheDir, "partial", `sha256-${base.slice(7)}`);
      assert.ok(((await stat(partial).catch(() => undefined))?.size ?? 0) <= HOLD_AT, "the partial");
      assert.equal(
        await stat(join(cacheDir, "blobs", "sha256", base.slice(7))).catch(() => undefined),
        undefined,
      );
      assert.ok(
        !(await list(out)).includes("img.gvmi"),
        "nothing renamed into place before the digest check",
      );
    } finally {
      hostile.release();
    }
    await converting;
    assert.equal(await sha256(join(out, "img.gvmi")), await referenceDigest(), "the same bytes as from disk");
    assert.ok(await stat(join(cacheDir, "blobs", "sha256", base.slice(7))), "the blob admitted to the cache");
  },
);

test(
  "a blob with a wrong digest: E_OCI_DIGEST_MISMATCH, no output, no cache entry, no temp",
  { skip },
  async () => {
    hostile.reset();
    hostile.fault({ on: { digest: base }, mode: { kind: "wrong-digest" } });
    const out = fresh("out");
    const cacheDir = fresh("cache");
    await assert.rejects(run(`${hostile.host}/stream/img:1`, out, cacheDir), (err: unknown) => {
      assert.equal((err as GvmconvError).code, "E_OCI_DIGEST_MISMATCH", String(err));
      assert.match((err as Error).message, new RegExp(base));
      return true;
    });
    hostile.reset();
    assert.deepEqual(await list(out), [], "nothing at the destination");
    assert.equal(
      await stat(join(cacheDir, "blobs", "sha256", base.slice(7))).catch(() => undefined),
      undefined,
    );
    assert.deepEqual(await list(join(cacheDir, "partial")), [], "no partial kept of wrong bytes");
    assert.deepEqual(await list(join(cacheDir, "tmp")), []);
  },
);

test(
  "a download cut off mid-blob resumes with Range and the streamed output is unchanged",
  { skip },
  async () => {
    hostile.reset();
    hostile.fault({ on: { digest: base }, mode: { kind: "truncate", after: HOLD_AT }, times: 1 });
    const out = fresh("out");
    await run(`${hostile.host}/stream/img:1`, out, fresh("cache"));
    // The resume starts where the bytes that arrived end: HOLD_AT were sent before the FIN, but
    // the client may see the close before the last of them (undici can drop what it had not yet
    // delivered), so the offset is at most HOLD_AT — and never 0, which would be a restart.
    const ranges = hostile.log.filter((l) => l.url.includes(base.slice(7))).map((l) => l.range);
    hostile.reset();
    const resumed = ranges.filter((r) => {
      const from = /^bytes=(\d+)-$/.exec(r ?? "")?.[1];
      return from !== undefined && Number(from) > 0 && Number(from) <= HOLD_AT;
    });
    assert.equal(
      resumed.length,
      1,
      `one Range request from where the cut left off: ${JSON.stringify(ranges)}`,
    );
    assert.equal(ranges.length, 2, `the cut request and its resumption only: ${JSON.stringify(ranges)}`);
    assert.equal(await sha256(join(out, "img.gvmi")), await referenceDigest());
  },
);

test("streamed, warm-cache and on-disk conversions write the same bytes", { skip }, async () => {
  hostile.reset();
  const cacheDir = fresh("cache");
  const cold = fresh("out");
  await run(`${hostile.host}/stream/img:1`, cold, cacheDir);
  const blobGets = (): number => hostile.log.filter((l) => l.url.includes("/blobs/")).length;
  const before = blobGets();
  const warm = fresh("out");
  await run(`${hostile.host}/stream/img:1`, warm, cacheDir);
  assert.equal(blobGets(), before, "the warm run reads every layer from the cache");
  const want = await referenceDigest();
  assert.equal(await sha256(join(cold, "img.gvmi")), want, "streamed");
  assert.equal(await sha256(join(warm, "img.gvmi")), want, "from the warm cache");
});

test(
  "a hard link to a file its own layer dropped reads that layer again, from the cache",
  { skip },
  async () => {
    // The base's `a` is shadowed by the top's, so the merge drops it, then meets the base's `b`
    // linked to it: it must read the base once more for `a`'s bytes, after the download.
    const mtime = new Date(1_700_000_000_000);
    const baseA = noise(200_000, "base-a");
    const baseTar = await packTar([
      { header: { name: "a", type: "file", mode: 0o644, mtime }, body: baseA },
      { header: { name: "b", type: "link", linkname: "a", mode: 0o644, mtime } },
    ]);
    const topTar = await packTar([
      { header: { name: "a", type: "file", mode: 0o644, mtime }, body: Buffer.from("top\n") },
    ]);
    const linked = assembleImage(
      [
        { tar: baseTar, compression: "gzip" },
        { tar: topTar, compression: "gzip" },
      ],
      { architecture: "amd64", os: "linux", config: { Cmd: ["/a"] } },
    );
    const layoutDir = join(work, "layout-link");
    await writeLayout(layoutDir, [{ kind: "image", ref: "x", image: linked }]);
    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `oci:${layoutDir}:x`,
      `docker://${backend.host}/stream/link:1`,
    );
    hostile.reset();
    const linkedBase = linked.layerDigests[0] ?? "";
    hostile.fault({ on: { digest: linkedBase }, mode: { kind: "pause", after: 1000 }, times: 1 });
    const out = fresh("out");
    await mkdir(out, { recursive: true });
    const converting = convert(`${hostile.host}/stream/link:1`, {
      output: join(out, "img.sqfs"),
      format: "squashfs",
      image: { cacheDir: fresh("cache") },
      env: hermeticEnv(work),
      dotenv: false,
    });
    await hostile.paused();
    hostile.release();
    await converting;
    const baseGets = hostile.log.filter((l) => l.url.includes(linkedBase.slice(7)));
    hostile.reset();
    assert.equal(baseGets.length, 1, "the base downloaded once, its second reading from the cache");
    const cat = (path: string): Buffer =>
      execFileSync("unsquashfs", ["-cat", join(out, "img.sqfs"), path], { maxBuffer: 1 << 24 });
    assert.ok(cat("b").equals(baseA), "b holds the base layer's a");
    assert.equal(cat("a").toString(), "top\n");
  },
);
