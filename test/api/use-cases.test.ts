/**
 * The library's use cases called directly, as golem-js or a CI script would (no CLI): convert,
 * push, convertAndPush, the info document, openImageFile/inspect/verify/list/read, buildSquashfs,
 * login/checkLogin/logout — against the sample image and the local Golem registry stand-in.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile, rm, writeFile, mkdir, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  buildSquashfs,
  checkLogin,
  convert,
  convertAndPush,
  createContext,
  imageInfoDocument,
  inspectImage,
  isGvmconvError,
  listImage,
  login,
  logout,
  openImageFile,
  push,
  pushTargetFromSource,
  readImageFile,
  silentReporter,
  verifyImage,
  ImageHashMismatchError,
  UsageError,
  type ListedDirectory,
  type Reporter,
} from "../../src/index.js";
import { hermeticEnv, tmp } from "../oci/helpers.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { packTar } from "../e2e/support.js";

const SAMPLE = `oci:${join(new URL("../../..", import.meta.url).pathname, "samples", "hello-oci")}:latest`;
const TOKEN = "tok-use-cases-9c1e";

let work = "";
let registry: FakeGolemRegistry;
let env: Record<string, string | undefined>;
let sampleGvmi = "";

before(async () => {
  work = await tmp("gvmconv-api-");
  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
  env = { ...hermeticEnv(work), REGISTRY_URL: registry.url };
  sampleGvmi = (await convert(SAMPLE, { outputDir: join(work, "sample"), env })).outputPath;
});
after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

const sha3 = async (path: string): Promise<string> =>
  createHash("sha3-224")
    .update(await readFile(path))
    .digest("hex");

test("convert creates the output directory it is given and reports the file it wrote", async () => {
  const dir = join(work, "not", "yet", "there");
  const result = await convert(SAMPLE, { outputDir: dir, env });
  assert.equal(result.kept, false);
  assert.deepEqual(await readdir(dir), [result.outputPath.slice(dir.length + 1)]);
  assert.equal(result.sha3, await sha3(result.outputPath));
});

test("push uploads an existing .gvmi and attaches the tag; the registry holds exactly the file", async () => {
  const file = join(work, "push.gvmi");
  await copyFile(sampleGvmi, file);
  const result = await push(file, {
    target: "alice/hello:lib",
    credentials: { user: "alice", token: TOKEN },
    env,
  });
  assert.equal(result.sha3, await sha3(file));
  assert.equal(registry.tags.get("alice/hello:lib"), result.descriptorSha256);
  assert.ok(registry.assembled(result.descriptorSha256)?.equals(await readFile(file)));
  const doc = imageInfoDocument(result.description, undefined, result);
  assert.equal(doc.imageDescrPath, `${file}.descr.bin`);
  assert.equal(doc.hash, result.descriptorSha256, "gvmkit-build's `hash` names the descriptor");
  assert.equal(doc.imageHash, result.sha3);
  assert.deepEqual(doc.repoInfo, { repo: "hello", tag: "lib", url: registry.url, user: "alice" });
});

test("a runtime-config error (a relative --vol) is refused before any layer is read or written", async () => {
  const tasks: string[] = [];
  const reporter: Reporter = {
    ...silentReporter,
    task: (label) => (tasks.push(label), silentReporter.task(label)),
  };
  await assert.rejects(
    convert(SAMPLE, { outputDir: join(work, "bad-vol"), env, reporter, overrides: { volumes: ["data"] } }),
    (err: unknown) => isGvmconvError(err) && err.code === "E_GVMI_CONFIG" && /"data"/.test(err.message),
  );
  assert.deepEqual(tasks, [], "no writing (or download) task was started");
});

test("convertAndPush finds the login before building: without one nothing is written", async () => {
  const dir = join(work, "no-login");
  const started = Date.now();
  await assert.rejects(
    convertAndPush(SAMPLE, { outputDir: dir, env, push: { target: "alice/hello:nologin" } }),
    (err: unknown) => err instanceof UsageError && /no Golem registry login/.test(err.message),
  );
  assert.ok(Date.now() - started < 5000);
  await assert.rejects(readdir(dir), /ENOENT/, "the output directory was never made");
});

test("convertAndPush with the login from the environment converts, uploads and attaches", async () => {
  const result = await convertAndPush(SAMPLE, {
    outputDir: join(work, "both"),
    env: { ...env, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN },
    push: { target: pushTargetFromSource("docker://alice/hello:both") },
  });
  assert.equal(result.push.sha3, result.conversion.sha3);
  assert.equal(registry.tags.get("alice/hello:both"), result.push.descriptorSha256);
  const doc = imageInfoDocument(result.push.description, result.conversion, result.push);
  assert.equal(doc.imageId, result.conversion.imageId);
  assert.deepEqual(doc.addedMountPoints, result.conversion.addedMountPoints);
});

test("pushTargetFromSource needs a user part, as --push does", () => {
  assert.deepEqual(pushTargetFromSource("alice/app:1"), { user: "alice", repository: "app", tag: "1" });
  assert.throws(() => pushTargetFromSource("app:1"), UsageError);
});

test("openImageFile, inspectImage, verifyImage, listImage, readImageFile read a .gvmi", async () => {
  const image = await openImageFile(sampleGvmi);
  assert.equal(image.kind, "gvmi");
  await image.reader.close();

  const info = await inspectImage(sampleGvmi);
  assert.equal(info.format, "gvmi");
  assert.equal(info.sha3, await sha3(sampleGvmi));
  assert.equal(info.squashfs.compression, "gzip");
  assert.ok(info.config !== null && "Image" in info.config);

  const verified = await verifyImage(sampleGvmi, { sha3: info.sha3 });
  assert.equal(verified.hashChecked, true);
  assert.ok(verified.inodes > 0);
  await assert.rejects(verifyImage(sampleGvmi, { sha3: "0".repeat(56) }), ImageHashMismatchError);

  const listings: ListedDirectory[] = [];
  for await (const dir of listImage(sampleGvmi, "/", { recursive: true, stat: true })) listings.push(dir);
  assert.equal(listings[0]?.path, "");
  const all = listings.flatMap((d) => d.entries.map((e) => e.path));
  assert.ok(all.includes("proc"), all.join(" "));
  assert.ok(listings.every((d) => d.entries.every((e) => e.stat !== undefined)));

  const file = listings.flatMap((d) => d.entries).find((e) => e.kind === "file");
  assert.ok(file, "the sample holds a file");
  const chunks: Uint8Array[] = [];
  for await (const chunk of readImageFile(sampleGvmi, file.path)) chunks.push(chunk);
  assert.equal(Buffer.concat(chunks).length, file.stat?.size);
});

test("image-file use cases on something that is not an image fail with a coded error", async () => {
  const junk = join(work, "junk.gvmi");
  await writeFile(junk, "not an image at all, just some text\n");
  for (const run of [() => inspectImage(junk), () => verifyImage(junk), () => openImageFile(junk)]) {
    await assert.rejects(run(), (err: unknown) => isGvmconvError(err));
  }
});

test("buildSquashfs from a directory, a tar file and a tar stream: the same tree, the same bytes", async () => {
  const tree = join(work, "tree");
  await mkdir(join(tree, "etc"), { recursive: true });
  await writeFile(join(tree, "etc/hello"), "hello\n");
  const tar = await packTar([
    { header: { name: "etc/", type: "directory", mode: 0o755, mtime: new Date(0) } },
    { header: { name: "etc/hello", mode: 0o644, mtime: new Date(0) }, body: "hello\n" },
  ]);
  const tarFile = join(work, "tree.tar");
  await writeFile(tarFile, tar);
  const out = join(work, "sqfs");
  await mkdir(out);
  const context = createContext({ env: {}, mkfsTime: 0 });
  const fromDir = await buildSquashfs(tree, join(out, "dir.sqfs"), { context });
  assert.equal(fromDir.size, (await readFile(fromDir.outputPath)).length);
  const fromFile = await buildSquashfs(tarFile, join(out, "file.sqfs"), { context });
  const fromStream = await buildSquashfs("-", join(out, "stream.sqfs"), {
    context,
    stdin: Readable.from([tar]),
  });
  assert.ok((await readFile(fromFile.outputPath)).equals(await readFile(fromStream.outputPath)));
  const names = async (p: string): Promise<string[]> => {
    const seen: string[] = [];
    for await (const d of listImage(p, "/", { recursive: true })) seen.push(...d.entries.map((e) => e.path));
    return seen;
  };
  assert.deepEqual(await names(fromDir.outputPath), await names(fromFile.outputPath));
  // One output policy (output-policy.ts): a directory's image gvmconv wrote is rebuilt (its
  // contents cannot be compared unread), a tar file's with the same options kept, and a file
  // gvmconv did not write refused.
  assert.equal((await buildSquashfs(tree, fromDir.outputPath, { context })).kept, false);
  assert.equal((await buildSquashfs(tarFile, fromFile.outputPath, { context })).kept, true);
  const foreign = join(out, "foreign.sqfs");
  await writeFile(foreign, "not ours");
  await assert.rejects(
    buildSquashfs(tree, foreign, { context }),
    (e: unknown) => isGvmconvError(e) && e.code === "E_OUTPUT_NOT_OURS",
  );
  assert.equal(await readFile(foreign, "utf8"), "not ours");
});

test("login checks the token with the registry and stores it; checkLogin and logout see it", async () => {
  const loginEnv = hermeticEnv(join(work, "login-home"), { REGISTRY_URL: registry.url });
  await mkdir(join(work, "login-home"), { recursive: true });
  await assert.rejects(login({ user: "alice", token: "wrong" }, { env: loginEnv }), (e: unknown) =>
    isGvmconvError(e),
  );
  assert.deepEqual(await checkLogin({ env: loginEnv, cwd: work }), {
    found: false,
    registryUrl: registry.url,
  });
  const stored = await login({ user: "alice", token: TOKEN }, { env: loginEnv });
  assert.equal(stored.registryUrl, registry.url);
  assert.ok(!(await readFile(stored.path, "utf8")).includes("wrong"));
  const check = await checkLogin({ env: loginEnv, cwd: work });
  assert.ok(check.found && check.valid && check.user === "alice" && check.source === "stored");
  assert.equal(await logout({ env: loginEnv }), true);
  assert.equal(await logout({ env: loginEnv }), false);
});
