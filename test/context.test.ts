/**
 * The run context (src/context.ts) is the one place for the environment, the warning policy and
 * the filesystem time. These tests hold every entry point to that: the library's use cases and the
 * CLI's commands apply one SOURCE_DATE_EPOCH rule, and --strict fails on warnings from every
 * part, the tar reader included (it used to reach only the layer merge).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import {
  buildSquashfs,
  CollectingReporter,
  convert,
  createContext,
  inspectImage,
  listImage,
  sourceDateEpoch,
  StrictWarningError,
  UsageError,
} from "../src/index.js";
import { hermeticEnv, tmp, writeLayout } from "./oci/helpers.js";
import { imageFromTars, packTar } from "./e2e/support.js";
import { rawTarHeader } from "./support/tar.js";
import { runCli } from "./support/cli-run.js";

let work = "";
before(async () => {
  work = await tmp("gvmconv-context-");
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

let n = 0;
/** A fresh, empty directory for one run's output. */
async function outDir(): Promise<string> {
  const dir = join(work, `out-${n++}`);
  await mkdir(dir);
  return dir;
}

/** A tar holding a regular file and one member of an entry type no tar reader knows ('Z'). */
function tarWithUnknownType(): Buffer {
  const body = Buffer.from("hello\n");
  return Buffer.concat([
    rawTarHeader("etc/hello", "0", body.length),
    Buffer.concat([body, Buffer.alloc(512 - body.length)]),
    rawTarHeader("odd", "Z", 0),
    Buffer.alloc(1024),
  ]);
}

/**
 * A tar holding a GNU sparse file in PAX format 1.0 (as bsdtar writes any file with holes): 8192
 * bytes, whose first 512 are `x` by the default map.
 */
async function tarWithSparseFile(map = "1\n0\n512\n"): Promise<Buffer> {
  return await packTar([
    { header: { name: "etc/hello", mtime: new Date(0) }, body: "hello\n" },
    {
      header: {
        name: "GNUSparseFile.0/holes",
        mtime: new Date(0),
        pax: {
          "GNU.sparse.major": "1",
          "GNU.sparse.minor": "0",
          "GNU.sparse.name": "holes",
          "GNU.sparse.realsize": "8192",
        },
      },
      body: map + "\0".repeat(512 - map.length) + "x".repeat(512),
    },
  ]);
}

/** An OCI layout whose only layer is `tar`. */
async function layoutOf(name: string, tar: Buffer): Promise<string> {
  const dir = join(work, name);
  // A config that warns about nothing (a volume, no USER): under --strict the failure is the tar's,
  // not the config's, whose warnings come first, before any layer is read.
  const config = { Cmd: ["/bin/sh"], Volumes: { "/data": {} } };
  await writeLayout(dir, [{ kind: "image", ref: "latest", image: imageFromTars([tar], "gzip", { config }) }]);
  return `oci:${dir}:latest`;
}

// ---- SOURCE_DATE_EPOCH: one rule ----

test("SOURCE_DATE_EPOCH: unset or empty is no time; digits up to 2^32-1 are; anything else is a usage error", () => {
  assert.equal(sourceDateEpoch({}), undefined);
  assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "" }), undefined);
  assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "0" }), 0);
  assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "4294967295" }), 4294967295);
  for (const bad of ["4294967296", "-1", "1.5", "12abc", "1e9", " "]) {
    assert.throws(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: bad }), UsageError, bad);
  }
  assert.equal(createContext({ env: { SOURCE_DATE_EPOCH: "77" } }).mkfsTime, 77);
  assert.equal(createContext({ env: { SOURCE_DATE_EPOCH: "77" }, mkfsTime: 5 }).mkfsTime, 5, "explicit wins");
  assert.equal(createContext({ env: {} }).mkfsTime, 0, "never the clock");
});

test("every entry point writes SOURCE_DATE_EPOCH as the filesystem time, mount points included", async () => {
  const sample = `oci:${join(new URL("../..", import.meta.url).pathname, "samples", "hello-oci")}:latest`;
  const env = hermeticEnv(work, { SOURCE_DATE_EPOCH: "1234567890" });
  const tree = join(work, "tree");
  await mkdir(join(tree, "etc"), { recursive: true });
  await writeFile(join(tree, "etc/hello"), "hello\n");

  const lib = await convert(sample, { outputDir: await outDir(), env });
  const libSqfs = join(await outDir(), "tree.sqfs");
  await buildSquashfs(tree, libSqfs, { env });
  const cliGvmi = join(await outDir(), "cli.gvmi");
  const c1 = await runCli([sample, "-o", cliGvmi], { env });
  assert.equal(c1.code, 0, c1.stderr);
  const cliSqfs = join(await outDir(), "cli.sqfs");
  const c2 = await runCli(["squashfs", tree, "-o", cliSqfs], { env });
  assert.equal(c2.code, 0, c2.stderr);

  for (const file of [lib.outputPath, libSqfs, cliGvmi, cliSqfs]) {
    assert.equal((await inspectImage(file)).squashfs.mkfsTime, 1234567890, file);
  }
  // The sample lacks /proc and /sys: the mount points added for the VM carry the same time.
  assert.ok(lib.addedMountPoints.includes("/proc"), String(lib.addedMountPoints));
  for await (const dir of listImage(lib.outputPath, "/", { stat: true })) {
    const proc = dir.entries.find((e) => e.name === "proc");
    assert.equal(proc?.stat?.mtime, 1234567890);
  }
  assert.ok(
    (await readFile(lib.outputPath)).equals(await readFile(cliGvmi)),
    "library and CLI give the same bytes",
  );
});

test("a malformed SOURCE_DATE_EPOCH is refused the same way by every entry point, before anything is written", async () => {
  const sample = `oci:${join(new URL("../..", import.meta.url).pathname, "samples", "hello-oci")}:latest`;
  const env = hermeticEnv(work, { SOURCE_DATE_EPOCH: "yesterday" });
  const dir = await outDir();
  const refused = (err: unknown): boolean =>
    err instanceof UsageError && /SOURCE_DATE_EPOCH must be a whole number/.test(err.message);
  await assert.rejects(convert(sample, { outputDir: dir, env }), refused);
  await assert.rejects(buildSquashfs(join(work, "tree"), join(dir, "x.sqfs"), { env }), refused);
  for (const argv of [
    [sample, "-o", join(dir, "y.gvmi")],
    ["squashfs", join(work, "tree"), "-o", join(dir, "y.sqfs")],
  ]) {
    const r = await runCli(argv, { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^gvmconv: error \[E_USAGE\]: SOURCE_DATE_EPOCH must be a whole number/);
  }
  assert.deepEqual(await readdir(dir), []);
});

// ---- --strict: every warning, from every part ----

test("--strict fails on an unknown tar entry type from the tar reader: library and CLI, squashfs and convert", async () => {
  const tar = join(work, "unknown.tar");
  await writeFile(tar, tarWithUnknownType());
  const dir = await outDir();

  const collected = new CollectingReporter();
  await buildSquashfs(tar, join(dir, "lenient.sqfs"), { env: {}, reporter: collected });
  assert.deepEqual(
    collected.warnings.map((w) => w.code),
    ["W_TAR_UNKNOWN_TYPE"],
    "a warning without --strict",
  );

  await assert.rejects(
    buildSquashfs(tar, join(dir, "strict.sqfs"), { env: {}, strict: true }),
    (err: unknown) => {
      assert.ok(err instanceof StrictWarningError);
      assert.equal(err.code, "E_TAR_UNKNOWN_TYPE");
      assert.equal(err.path, "odd");
      return true;
    },
  );
  const r1 = await runCli(["squashfs", tar, "-o", join(dir, "strict-cli.sqfs"), "--strict"], { env: {} });
  assert.equal(r1.code, 1);
  assert.match(
    r1.stderr,
    /^gvmconv: error \[E_TAR_UNKNOWN_TYPE\]: skipped 'odd': unsupported tar entry type — /m,
  );

  const source = await layoutOf("unknown-layout", tarWithUnknownType());
  const env = hermeticEnv(work);
  await assert.rejects(
    convert(source, { output: join(dir, "strict.gvmi"), env, strict: true }),
    StrictWarningError,
  );
  const r2 = await runCli([source, "-o", join(dir, "strict-cli.gvmi"), "--strict"], { env });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /\[E_TAR_UNKNOWN_TYPE\]/);
  assert.deepEqual(
    (await readdir(dir)).sort(),
    [".lenient.sqfs.gvmconv.json", "lenient.sqfs"],
    "nothing left by the strict runs (the lenient image and its record)",
  );
});

test("a malformed sparse map is an error with or without --strict; a well-formed one converts", async () => {
  const good = join(work, "sparse.tar");
  await writeFile(good, await tarWithSparseFile());
  const dir = await outDir();
  const collected = new CollectingReporter();
  await buildSquashfs(good, join(dir, "good.sqfs"), { env: {}, reporter: collected });
  assert.deepEqual(collected.warnings, []);
  const unpacked = join(dir, "unpacked");
  execFileSync("unsquashfs", ["-q", "-d", unpacked, join(dir, "good.sqfs")], { stdio: "ignore" });
  const expected = Buffer.alloc(8192);
  expected.fill("x", 0, 512);
  assert.deepEqual(await readFile(join(unpacked, "holes")), expected, "the real name and content");
  await rm(unpacked, { recursive: true });

  // Segments 0+512 and 256+512 overlap: no file can be made of that.
  const bad = join(work, "sparse-bad.tar");
  await writeFile(bad, await tarWithSparseFile("2\n0\n512\n256\n512\n"));
  await assert.rejects(buildSquashfs(bad, join(dir, "lenient.sqfs"), { env: {} }), {
    code: "E_TAR_SPARSE_MAP",
  });
  for (const strict of [[], ["--strict"]]) {
    const r1 = await runCli(["squashfs", bad, "-o", join(dir, "cli.sqfs"), ...strict], { env: {} });
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /\[E_TAR_SPARSE_MAP\].*overlapping/);
    const source = await layoutOf(
      `sparse-layout-${strict.length}`,
      await tarWithSparseFile("2\n0\n512\n256\n512\n"),
    );
    const r2 = await runCli([source, "-o", join(dir, "cli.gvmi"), ...strict], { env: hermeticEnv(work) });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /\[E_TAR_SPARSE_MAP\]/);
  }
  assert.deepEqual(
    (await readdir(dir)).sort(),
    [".good.sqfs.gvmconv.json", "good.sqfs"],
    "nothing left by the failed runs (the good image and its record)",
  );
});

test("a context's warnings are recorded in order, and strict throws the first one", () => {
  const outer = new CollectingReporter();
  const lenient = createContext({ env: {}, reporter: outer });
  lenient.reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "a" });
  lenient.reporter.warn({ code: "W_LAYER_MTIME_RANGE", message: "b" });
  assert.deepEqual(
    lenient.warnings.map((w) => w.code),
    ["W_TAR_UNKNOWN_TYPE", "W_LAYER_MTIME_RANGE"],
  );
  assert.deepEqual(
    outer.warnings.map((w) => w.code),
    ["W_TAR_UNKNOWN_TYPE", "W_LAYER_MTIME_RANGE"],
  );
  const strict = createContext({ env: {}, reporter: outer, strict: true });
  assert.throws(
    () => strict.reporter.warn({ code: "W_GVMI_NO_VOLUMES", message: "c", path: "x" }),
    (err: unknown) => {
      return err instanceof StrictWarningError && err.code === "E_GVMI_NO_VOLUMES" && err.path === "x";
    },
  );
  assert.equal(outer.warnings.length, 2, "a thrown warning is not also printed as a warning");
});

test("GVMCONV_XZ_BACKEND is read by the context, checked, and handed to the writer", async () => {
  const { writerOptions } = await import("../src/api/convert.js");
  assert.equal(createContext({ env: {} }).xzBackend, undefined);
  const forced = createContext({ env: { GVMCONV_XZ_BACKEND: "lzma-native" } });
  assert.equal(forced.xzBackend, "lzma-native");
  assert.equal(writerOptions({ compression: "xz" }, forced).xzBackend, "lzma-native");
  assert.equal(
    writerOptions({ compression: "xz", xzBackend: "liblzma" }, forced).xzBackend,
    "liblzma",
    "an explicit option wins",
  );
  assert.equal(writerOptions(undefined, forced).mkfsTime, 0);
  assert.throws(() => createContext({ env: { GVMCONV_XZ_BACKEND: "fast" } }), UsageError);
});

test(".env: createContext reads the nearest one from cwd upwards, beneath the given env; dotenv: false does not", async () => {
  const top = join(work, `dotenv-${n++}`);
  const cwd = join(top, "a", "b");
  await mkdir(cwd, { recursive: true });
  await writeFile(
    join(top, ".env"),
    "REGISTRY_URL=http://staging.example:8080\nSOURCE_DATE_EPOCH=1700000000\nREGISTRY_USER=from-file\n",
  );
  const ctx = createContext({ env: { REGISTRY_USER: "from-env" }, cwd });
  assert.equal(ctx.env["REGISTRY_URL"], "http://staging.example:8080", "every variable, not only the login");
  assert.equal(ctx.env["REGISTRY_USER"], "from-env", "the given environment wins");
  assert.equal(ctx.mkfsTime, 1_700_000_000, "SOURCE_DATE_EPOCH from .env reaches the filesystem time");
  assert.equal(ctx.dotenv?.path, join(top, ".env"));
  assert.deepEqual([...(ctx.dotenv?.keys ?? [])].sort(), ["REGISTRY_URL", "SOURCE_DATE_EPOCH"]);

  const off = createContext({ env: { REGISTRY_USER: "from-env" }, cwd, dotenv: false });
  assert.equal(off.env["REGISTRY_URL"], undefined);
  assert.equal(off.mkfsTime, 0);
  assert.equal(off.dotenv, undefined);

  // The first .env found is the only one read (dotenv-rs find.rs); a directory named .env is passed over.
  await writeFile(join(top, "a", ".env"), "REGISTRY_URL=http://near.example\n");
  await mkdir(join(cwd, ".env"));
  const near = createContext({ env: {}, cwd });
  assert.equal(near.env["REGISTRY_URL"], "http://near.example");
  assert.equal(near.env["REGISTRY_USER"], undefined, "the parent's .env is not read at all");
  assert.equal(near.env["SOURCE_DATE_EPOCH"], undefined);
});

test("network settings: the caller's, else GVMCONV_* variables in seconds; malformed is a usage error", () => {
  const env = {
    GVMCONV_CONNECT_TIMEOUT: "5",
    GVMCONV_HEADERS_TIMEOUT: "0.25",
    GVMCONV_BODY_TIMEOUT: "90",
    GVMCONV_MIN_RATE: "0",
    GVMCONV_RATE_WINDOW: "30",
    GVMCONV_TOTAL_TIMEOUT: "600",
    GVMCONV_RETRIES: "2",
    GVMCONV_RETRY_DELAY: "0.1",
  };
  const ctx = createContext({ env, dotenv: false });
  assert.deepEqual(ctx.network, {
    timeouts: {
      connectMs: 5000,
      headersMs: 250,
      bodyMs: 90_000,
      minBytesPerSecond: 0,
      rateWindowMs: 30_000,
      totalMs: 600_000,
    },
    retries: 2,
    retryDelayMs: 100,
  });
  const given = createContext({
    env,
    dotenv: false,
    network: { timeouts: { headersMs: 7 }, retries: 9 },
  });
  assert.equal(given.network.timeouts.headersMs, 7, "the caller's value wins");
  assert.equal(given.network.timeouts.bodyMs, 90_000, "the environment fills the rest");
  assert.equal(given.network.retries, 9);
  // Nothing set: nothing decided here, each client keeps its own defaults.
  assert.deepEqual(createContext({ env: {}, dotenv: false }).network, { timeouts: {} });
  for (const [name, value] of [
    ["GVMCONV_HEADERS_TIMEOUT", "1m"],
    ["GVMCONV_RETRIES", "1.5"],
    ["GVMCONV_MIN_RATE", "-1"],
  ] as const) {
    assert.throws(
      () => createContext({ env: { [name]: value }, dotenv: false }),
      (err: unknown) => err instanceof UsageError && err.message.includes(name),
    );
  }
});
