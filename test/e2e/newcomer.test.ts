/**
 * The newcomer's path: `npm run sample` needs the npm dependencies only (not the Debian packages
 * of the tests), compiles only when dist/ is older than the sources, and converts the sample
 * without a warning; `npm pack` gives a package that `npm install -g` installs into a fresh
 * prefix, whose `gvmconv` converts the sample.
 *
 * The global install takes the dependencies' tarballs from the npm cache (`npm ci` put them
 * there) but asks the npm registry for their metadata: npm resolves a tarball's dependency
 * ranges from the registry's package documents, which `npm ci` does not cache, so `--offline`
 * fails with ENOTCACHED on a machine that only ran `npm ci`. This is the one test that reaches
 * past loopback, as `npm ci` in scripts/ensure-deps.sh does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { missingTools, repoRoot, sha3sum } from "./support.js";

const execFileP = promisify(execFile);
const SAMPLE = `oci:${join(repoRoot, "samples", "hello-oci")}:latest`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { ...opts, maxBuffer: 1 << 24, timeout: 300_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("the sample's set-up installs no Debian package: only node, npm and dirname on PATH suffice", async (t) => {
  const bin = await tempDir(t, "gvmconv-path-");
  for (const tool of ["node", "npm", "npx", "dirname"]) {
    const found = (await run("sh", ["-c", `command -v ${tool}`])).stdout.trim();
    await symlink(found, join(bin, tool));
  }
  const env = { PATH: bin, HOME: process.env.HOME ?? "/root" };
  const bash = (await run("sh", ["-c", "command -v bash"])).stdout.trim();
  const sample = await run(bash, [join(repoRoot, "scripts", "ensure-deps.sh"), "--npm-only"], { env });
  assert.equal(sample.code, 0, sample.stderr);
  assert.doesNotMatch(sample.stderr, /installing Debian packages/);
  // The tests' set-up on the same PATH wants the Debian packages (and cannot install them here).
  const tests = await run(bash, [join(repoRoot, "scripts", "ensure-deps.sh")], { env });
  assert.notEqual(tests.code, 0);
  assert.match(tests.stderr, /installing Debian packages/);
});

test("dist/ counts as current until a source is newer than its last build", async (t) => {
  const dir = await tempDir(t, "gvmconv-dist-");
  const script = join(repoRoot, "scripts", "dist-current.sh");
  const current = async (): Promise<boolean> => (await run("bash", [script, dir])).code === 0;
  await mkdir(join(dir, "src"), { recursive: true });
  await writeFile(join(dir, "src", "index.ts"), "export {};\n");
  await writeFile(join(dir, "package.json"), "{}\n");
  assert.equal(await current(), false, "no dist/ at all");
  await mkdir(join(dir, "dist", "cli"), { recursive: true });
  await writeFile(join(dir, "dist", "index.js"), "");
  await writeFile(join(dir, "dist", "cli", "main.js"), "");
  const past = new Date(Date.now() - 60_000);
  await utimes(join(dir, "src", "index.ts"), past, past);
  await utimes(join(dir, "package.json"), past, past);
  assert.equal(await current(), true, "built after every source");
  await utimes(join(dir, "src", "index.ts"), new Date(), new Date(Date.now() + 1000));
  assert.equal(await current(), false, "a source changed since");
});

const skipSample = missingTools("bash");

test(
  "npm run sample converts without a warning, and compiles nothing the second time",
  { skip: skipSample },
  async (t) => {
    const out = await tempDir(t, "gvmconv-sample-");
    const env = { ...process.env, SAMPLE_OUT: out, NO_COLOR: "1" };
    const first = await run("bash", [join(repoRoot, "scripts", "sample.sh")], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.doesNotMatch(first.stderr, /warning/, first.stderr);
    const link = / -- image link \(for use in SDK\): ([0-9a-f]{56})\n/.exec(first.stdout)?.[1];
    assert.ok(link, first.stdout);
    assert.match(first.stdout, new RegExp(`: ok — gvmi: .*sha3-224 ${link}`));
    const second = await run("bash", [join(repoRoot, "scripts", "sample.sh")], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /^dist\/ is up to date with src\/; not compiling$/m);
    assert.doesNotMatch(second.stderr, /compiling src/);
    assert.equal(
      / -- image link \(for use in SDK\): ([0-9a-f]{56})\n/.exec(second.stdout)?.[1],
      link,
      "same bytes",
    );
  },
);

test(
  "npm pack → npm install -g into a fresh prefix → gvmconv converts the sample",
  { skip: skipSample },
  async (t) => {
    const dir = await tempDir(t, "gvmconv-pack-");
    // The package is made of dist/: current after the sample test (or npm test's build).
    if ((await run("bash", [join(repoRoot, "scripts", "dist-current.sh")])).code !== 0) {
      const built = await run("npx", ["tsc", "-p", "tsconfig.json"], { cwd: repoRoot });
      assert.equal(built.code, 0, built.stdout);
    }
    const packed = await run("npm", ["pack", "--pack-destination", dir, "--silent"], { cwd: repoRoot });
    assert.equal(packed.code, 0, packed.stderr);
    const tarball = (await readdir(dir)).find((n) => /^gvmconv-.*\.tgz$/.test(n));
    assert.ok(tarball, packed.stdout);
    const prefix = join(dir, "prefix");
    // A fresh prefix, and a working directory away from the repository's node_modules.
    const install = await run(
      "npm",
      [
        "install",
        "-g",
        "--prefix",
        prefix,
        join(dir, tarball),
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
      ],
      { cwd: dir },
    );
    assert.equal(install.code, 0, install.stderr);
    const gvmconv = join(prefix, "bin", "gvmconv");
    const env = {
      PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}`,
      HOME: dir,
      XDG_CACHE_HOME: join(dir, "cache"),
    };
    const version = await run(gvmconv, ["--version"], { cwd: dir, env });
    assert.equal(version.code, 0, version.stderr);
    const out = join(dir, "hello.gvmi");
    const converted = await run(gvmconv, [SAMPLE, "-o", out, "--keep-user"], { cwd: dir, env });
    assert.equal(converted.code, 0, converted.stderr);
    assert.doesNotMatch(converted.stderr, /warning/);
    const link = / -- image link \(for use in SDK\): ([0-9a-f]{56})\n/.exec(converted.stdout)?.[1];
    assert.ok(link, converted.stdout);
    if (missingTools("sha3sum") === false) assert.equal(sha3sum(out), link);
    const verified = await run(gvmconv, ["verify", out], { cwd: dir, env });
    assert.equal(verified.code, 0, verified.stderr);
  },
);
