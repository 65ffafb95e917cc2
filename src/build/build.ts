/**
 * `build`: many images from one build file. Each image is one ordinary conversion (the shared
 * `convertImage` of src/api/convert.ts) of its source, with its `add` layers on top and its
 * config over the image's; a child (`parent:`) is its parent's recipe with more on top, built
 * from the same source layers rather than from the parent's output file, so building a child
 * never needs its parent's output (what makes `--only`/`--shard` work on any subset).
 *
 * Images run concurrently within `jobs`, parents before children (so the shared layers enter the
 * one blob cache once); a failure fails that image and its children only, unless `failFast`.
 */
import { availableParallelism } from "node:os";
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import PQueue from "p-queue";
import { contextOf, createContext, type RunContext, type RunOptions } from "../context.js";
import { GvmconvError, UsageError } from "../errors.js";
import type { ContainerConfigOverrides } from "../gvmi/index.js";
import { parseSource, type Image, type OpenImageOptions } from "../oci/index.js";
import type { ProgressTask, Reporter, Warning } from "../reporter.js";
import { convertImage, type ConvertWriterOptions } from "../api/convert.js";
import { addDigest, addLayerSource, resolveAdd, type AddLayer } from "./add-layer.js";
import {
  checkBuildObject,
  loadBuildFile,
  type BuildFileSpec,
  type ConfigSpec,
  type ImageSpec,
  type OutputSpec,
  type PublishSpec,
} from "./build-file.js";
import { HashMemo } from "./hash-memo.js";
import { readLock, writeLock, type LockedImage, type LockedOutput } from "./lock.js";
import { publish, targetKey, type Published } from "./publish.js";

export interface BuildOptions extends RunOptions {
  /** Where outputs go. Default: the build file's directory (for an object: the current directory). */
  outputDir?: string;
  /** The lock file. Default: `gvmconv.lock` beside the build file (object: in the output directory). */
  lockFile?: string;
  /** Directory `add` and `dir` paths are relative to, for a build object. Default: the current directory. */
  baseDir?: string;
  /** Re-resolve the sources of every image (`true`) or of these images and their children. */
  update?: boolean | readonly string[];
  /** Rebuild even what the lock says is unchanged. */
  force?: boolean;
  /** Images built at the same time. Default: the number of CPUs, at most 4. */
  jobs?: number;
  /** Stop starting images after the first failure. */
  failFast?: boolean;
  /** Build only these images. */
  only?: readonly string[];
  /** Build only the `index`-th (1-based) of `count` shards of the images, by name. */
  shard?: { index: number; count: number };
  /** Options for opening the images (cache, credentials, insecure registries, engine). */
  image?: Omit<OpenImageOptions, "reporter" | "signal" | "env" | "platform">;
  /** Compression threads of each conversion. */
  workers?: number;
}

export type ImageStatus = "built" | "skipped" | "failed";

export interface BuildOutput extends LockedOutput {
  path: string;
}

export interface BuildImageResult {
  name: string;
  status: ImageStatus;
  /** The source as written (the topmost ancestor's for a child). */
  source: string;
  /** The manifest digest the source resolved to; undefined when it failed before. */
  digest: string | undefined;
  /** The image id (config digest); undefined when it failed before. */
  imageId: string | undefined;
  outputs: BuildOutput[];
  published: Published[];
  /** Why it failed. */
  error: Error | undefined;
  warnings: Warning[];
  /** Wall time in milliseconds. */
  ms: number;
}

export interface BuildResult {
  /** True when no selected image failed. */
  ok: boolean;
  images: BuildImageResult[];
  lockFile: string;
  outputDir: string;
}

/** A pinned digest that the source does not resolve to. */
export class DigestMismatchError extends GvmconvError {
  constructor(image: string, source: string, pinned: string, actual: string | undefined) {
    super(
      "E_BUILD_DIGEST_MISMATCH",
      `image ${image}: ${source} resolves to ${actual ?? "an image without a manifest digest"}, but the build file pins ${pinned}`,
      { hint: "check the source, or update the pinned digest if the change is expected" },
    );
  }
}

/** An image not attempted because its parent failed. */
export class ParentFailedError extends GvmconvError {
  constructor(image: string, parent: string) {
    super("E_BUILD_PARENT_FAILED", `image ${image} was not built: its parent ${parent} failed`, {
      hint: "fix the parent first",
    });
  }
}

/** The run as one image sees it: the chain of specs from the root ancestor down. */
interface Plan {
  name: string;
  chain: ImageSpec[];
  root: ImageSpec & { source: string };
  parent: string | undefined;
  outputs: OutputSpec[];
  publish: PublishSpec[];
  config: ConfigSpec;
  adds: AddLayer[];
}

/** Builds the images of a build file (a path) or of a build object. */
export async function build(file: string | BuildFileSpec, options: BuildOptions = {}): Promise<BuildResult> {
  const context = contextOf(options);
  const isPath = typeof file === "string";
  const spec = isPath ? await loadBuildFile(file) : checkBuildObject(file);
  const baseDir = isPath ? dirname(resolve(file)) : resolve(options.baseDir ?? context.cwd);
  const outputDir = resolve(options.outputDir ?? baseDir);
  const lockFile = resolve(options.lockFile ?? join(isPath ? baseDir : outputDir, "gvmconv.lock"));
  const jobs = options.jobs ?? Math.min(4, availableParallelism());
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new UsageError(`jobs must be a whole number from 1, got ${jobs}`);

  const names = Object.keys(spec.images).sort();
  const selected = selectImages(names, options);
  const plans = new Map<string, Plan>();
  // Only what is built is planned: a broken `add` of an image not selected does not stop a shard.
  for (const name of selected) plans.set(name, await planOf(name, spec, baseDir));
  const update = updateSet(options.update, names, spec);
  const lock = await readLock(lockFile);
  await mkdir(outputDir, { recursive: true });
  const memo = await HashMemo.load(outputDir);

  const queue = new PQueue({ concurrency: jobs });
  const results = new Map<string, Promise<BuildImageResult>>();
  let stopped = false;
  const run = (name: string): Promise<BuildImageResult> => {
    const known = results.get(name);
    if (known !== undefined) return known;
    const plan = plans.get(name)!;
    const promise = (async (): Promise<BuildImageResult> => {
      // Parents first when they are built too: their layers then enter the cache once.
      if (plan.parent !== undefined && selected.has(plan.parent)) {
        const parent = await run(plan.parent);
        if (parent.status === "failed") return failed(plan, new ParentFailedError(name, plan.parent), 0);
      }
      return (await queue.add(async () => {
        if (stopped)
          return failed(
            plan,
            new GvmconvError(
              "E_BUILD_FAILED",
              `image ${name} was not started: --fail-fast after an earlier failure`,
            ),
            0,
          );
        const result = await buildOne(plan, {
          context,
          memo,
          lockEntry: update.has(name) ? undefined : lock.images[name],
          force: options.force ?? false,
          outputDir,
          baseDir,
          options,
        });
        if (result.status === "failed" && options.failFast === true) stopped = true;
        return result;
      }))!;
    })();
    results.set(name, promise);
    return promise;
  };
  const images = await Promise.all([...selected].map((name) => run(name)));

  // The lock keeps the entries of images not built this time (another shard's, a failed one's).
  for (const result of images) {
    if (result.status === "failed" || result.digest === undefined) continue;
    const plan = plans.get(result.name)!;
    lock.images[result.name] = {
      source: plan.root.source,
      digest: result.digest,
      imageId: result.imageId ?? "",
      added: await chainAddDigest(plan, context),
      settings: settingsDigest(plan, context),
      outputs: result.outputs.map(({ format, file, size, sha3 }) => ({ format, file, size, sha3 })),
      published: result.published.map((p) => p.target),
    };
  }
  for (const name of Object.keys(lock.images)) if (!(name in spec.images)) delete lock.images[name];
  await writeLock(lockFile, lock);
  await memo.save();
  return { ok: images.every((i) => i.status !== "failed"), images, lockFile, outputDir };
}

function failed(plan: Plan, error: Error, ms: number): BuildImageResult {
  return {
    name: plan.name,
    status: "failed",
    source: plan.root.source,
    digest: undefined,
    imageId: undefined,
    outputs: [],
    published: [],
    error,
    warnings: [],
    ms,
  };
}

/** `only` and `shard` narrowed to image names; unknown names are usage errors. */
function selectImages(names: string[], options: BuildOptions): Set<string> {
  let chosen = names;
  if (options.only !== undefined && options.only.length > 0) {
    for (const name of options.only) {
      if (!names.includes(name))
        throw new UsageError(`--only ${name}: the build file has no such image`, {
          hint: `images: ${names.join(", ")}`,
        });
    }
    chosen = chosen.filter((n) => options.only!.includes(n));
  }
  const shard = options.shard;
  if (shard !== undefined) {
    if (
      !Number.isInteger(shard.count) ||
      shard.count < 1 ||
      !Number.isInteger(shard.index) ||
      shard.index < 1 ||
      shard.index > shard.count
    ) {
      throw new UsageError(`--shard ${shard.index}/${shard.count}: expected i/n with 1 ≤ i ≤ n`);
    }
    // By position in the sorted names: every image is in exactly one shard, whatever n is.
    chosen = chosen.filter((_, i) => i % shard.count === shard.index - 1);
  }
  return new Set(chosen);
}

/** The images `update` names, with their descendants (they share the source). */
function updateSet(update: BuildOptions["update"], names: string[], spec: BuildFileSpec): Set<string> {
  if (update === true) return new Set(names);
  if (update === undefined || update === false) return new Set();
  const out = new Set<string>();
  for (const name of update) {
    if (!names.includes(name))
      throw new UsageError(`--update ${name}: the build file has no such image`, {
        hint: `images: ${names.join(", ")}`,
      });
  }
  for (const name of names) {
    for (let n: string | undefined = name; n !== undefined; n = spec.images[n]?.parent) {
      if (update.includes(n)) out.add(name);
    }
  }
  return out;
}

async function planOf(name: string, spec: BuildFileSpec, baseDir: string): Promise<Plan> {
  const chain: ImageSpec[] = [];
  for (let n: string | undefined = name; n !== undefined; n = spec.images[n]?.parent)
    chain.unshift(spec.images[n]!);
  const image = spec.images[name]!;
  const root = chain[0] as ImageSpec & { source: string };
  const defaults = spec.defaults ?? {};
  let config: ConfigSpec = { ...defaults.config };
  for (const link of chain) config = mergeConfig(config, link.config ?? {});
  const adds: AddLayer[] = [];
  for (const link of chain) for (const add of link.add ?? []) adds.push(await resolveAdd(add, baseDir));
  return {
    name,
    chain,
    root: { ...root, platform: root.platform ?? defaults.platform },
    parent: image.parent,
    outputs: image.outputs ?? defaults.outputs ?? [{ format: "gvmi" }],
    publish: image.publish ?? defaults.publish ?? [],
    config,
    adds,
  };
}

function envList(env: ConfigSpec["env"]): string[] {
  if (env === undefined) return [];
  return Array.isArray(env) ? env : Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** `over`'s keys win; env, volumes and labels add up. */
function mergeConfig(base: ConfigSpec, over: ConfigSpec): ConfigSpec {
  const out: ConfigSpec = { ...base, ...over };
  if (base.env !== undefined || over.env !== undefined)
    out.env = [...envList(base.env), ...envList(over.env)];
  if (base.volumes !== undefined || over.volumes !== undefined)
    out.volumes = [...(base.volumes ?? []), ...(over.volumes ?? [])];
  if (base.labels !== undefined || over.labels !== undefined) out.labels = { ...base.labels, ...over.labels };
  return out;
}

function overridesOf(config: ConfigSpec): ContainerConfigOverrides {
  return {
    ...(config.env !== undefined ? { env: envList(config.env) } : {}),
    ...(config.volumes !== undefined ? { volumes: config.volumes } : {}),
    ...(config.entrypoint !== undefined ? { entrypoint: config.entrypoint } : {}),
    ...(config.cmd !== undefined ? { cmd: config.cmd } : {}),
    ...(config.workdir !== undefined ? { workdir: config.workdir } : {}),
    ...(config.user !== undefined ? { user: config.user } : {}),
    ...(config.labels !== undefined ? { labels: config.labels } : {}),
  };
}

const SIZE_UNIT: Record<string, number> = { "": 1, k: 1024, m: 1024 * 1024 };
function writerOf(output: OutputSpec, workers: number | undefined): ConvertWriterOptions {
  const size = output.blockSize;
  const blockSize =
    typeof size === "string"
      ? Number(/^\d+/.exec(size)![0]) * SIZE_UNIT[size.replace(/^\d+/, "").toLowerCase()]!
      : size;
  return {
    ...(output.compression !== undefined ? { compression: output.compression } : {}),
    ...(output.level !== undefined ? { level: output.level } : {}),
    ...(blockSize !== undefined ? { blockSize } : {}),
    ...(workers !== undefined ? { workers } : {}),
  };
}

/** The tag of a source for `{tag}`: the reference's, else `latest`. */
function tagOf(source: string): string {
  const tail = source.slice(source.lastIndexOf("/") + 1).replace(/@.*$/, "");
  const colon = tail.lastIndexOf(":");
  return colon < 0 ? "latest" : tail.slice(colon + 1);
}

function fileName(plan: Plan, output: OutputSpec): string {
  const ext = output.format ?? "gvmi";
  const template = output.name ?? "{name}-{tag}.{ext}";
  const name = template.replace(/\{(name|tag|ext)\}/g, (_, key: string) =>
    key === "name" ? plan.name : key === "tag" ? tagOf(plan.root.source) : ext,
  );
  if (name.includes("/") || name === "." || name === ".." || name === "") {
    throw new UsageError(`image ${plan.name}: output name ${JSON.stringify(name)} is not a plain file name`, {
      hint: "an output name template may use {name}, {tag} and {ext} but no '/'",
    });
  }
  return name;
}

/** Digest of what changes the bytes besides the source and the added files. */
function settingsDigest(plan: Plan, context: RunContext): string {
  const settings = {
    platform: plan.root.platform ?? null,
    pin: plan.root.digest ?? null,
    config: plan.config,
    outputs: plan.outputs.map((o) => ({ ...o, file: fileName(plan, o) })),
    mkfsTime: context.mkfsTime,
  };
  return `sha256:${createHash("sha256").update(JSON.stringify(settings)).digest("hex")}`;
}

const addDigests = new WeakMap<AddLayer, Promise<string>>();
async function chainAddDigest(plan: Plan, context: RunContext): Promise<string> {
  const hash = createHash("sha256");
  for (const add of plan.adds) {
    let digest = addDigests.get(add);
    if (digest === undefined) {
      digest = addDigest(add, context.mkfsTime, context.reporter);
      addDigests.set(add, digest);
    }
    hash.update(`${add.dest}\0${await digest}\n`);
  }
  return `sha256:${hash.digest("hex")}`;
}

interface BuildOneOptions {
  context: RunContext;
  memo: HashMemo;
  lockEntry: LockedImage | undefined;
  force: boolean;
  outputDir: string;
  baseDir: string;
  options: BuildOptions;
}

async function buildOne(plan: Plan, o: BuildOneOptions): Promise<BuildImageResult> {
  const started = Date.now();
  const context = imageContext(plan.name, o.context);
  const reporter = context.reporter;
  try {
    const added = await chainAddDigest(plan, context);
    const settings = settingsDigest(plan, context);
    const locked = o.lockEntry?.source === plan.root.source ? o.lockEntry : undefined;
    const files = plan.outputs.map((output) => ({ output, file: fileName(plan, output) }));

    if (!o.force && locked !== undefined && locked.added === added && locked.settings === settings) {
      const unchanged = await outputsMatch(
        locked,
        files.map((f) => f.file),
        o.outputDir,
        o.memo,
      );
      if (unchanged) {
        reporter.info(
          `unchanged since the lock (source ${locked.digest.slice(0, 19)}…, outputs verified); skipped`,
        );
        const outputs = locked.outputs.map((l) => ({ ...l, path: join(o.outputDir, l.file) }));
        // Targets added since the lock are published now; the others were, with these bytes.
        const published = await publishAll(
          plan,
          outputs,
          o,
          context,
          new Set(locked.published),
          locked.digest,
        );
        return {
          name: plan.name,
          status: "skipped",
          source: plan.root.source,
          digest: locked.digest,
          imageId: locked.imageId,
          outputs,
          published,
          error: undefined,
          warnings: [...context.warnings],
          ms: Date.now() - started,
        };
      }
    }

    const source = pinnedSource(plan.root.source, locked?.digest);
    let digest: string | undefined;
    let imageId: string | undefined;
    const onImage = (image: Image): void => {
      const actual = image.manifestDigest ?? image.configDigest;
      const pin = plan.root.digest ?? /@(sha256:[0-9a-f]{64})$/.exec(plan.root.source)?.[1];
      // A pin may name the platform's manifest or the index it was chosen from.
      if (pin !== undefined && actual !== pin && image.topDigest !== pin)
        throw new DigestMismatchError(plan.name, plan.root.source, pin, image.manifestDigest);
      if (locked !== undefined && actual !== locked.digest) {
        throw new GvmconvError(
          "E_BUILD_LOCK",
          `image ${plan.name}: ${plan.root.source} is now ${actual}, the lock says ${locked.digest}`,
          { hint: `run gvmconv build --update ${plan.name} to accept the new content` },
        );
      }
      digest = actual;
      imageId = image.configDigest;
    };
    const extraLayers = [...plan.adds]
      .reverse()
      .map((add) => addLayerSource(add, context.mkfsTime, reporter));
    const outputs: BuildOutput[] = [];
    for (const { output, file } of files) {
      const path = join(o.outputDir, file);
      const result = await convertImage(
        source,
        {
          context,
          output: path,
          format: output.format ?? "gvmi",
          force: true,
          writer: writerOf(output, o.options.workers),
          overrides: overridesOf(plan.config),
          image: {
            ...o.options.image,
            // A build is declarative: a name means the registry's image, not whatever a local engine has.
            engine: o.options.image?.engine ?? false,
            ...(plan.root.platform !== undefined ? { platform: plan.root.platform } : {}),
          },
        },
        { extraLayers, onImage },
      );
      outputs.push({ format: result.format, file, path, size: result.size, sha3: result.sha3 });
      await o.memo.note(o.outputDir, file, result.sha3);
    }
    const published = await publishAll(plan, outputs, o, context, new Set(), digest);
    return {
      name: plan.name,
      status: "built",
      source: plan.root.source,
      digest,
      imageId,
      outputs,
      published,
      error: undefined,
      warnings: [...context.warnings],
      ms: Date.now() - started,
    };
  } catch (err) {
    return {
      ...failed(plan, err instanceof Error ? err : new Error(String(err)), Date.now() - started),
      warnings: [...context.warnings],
    };
  }
}

async function publishAll(
  plan: Plan,
  outputs: BuildOutput[],
  o: BuildOneOptions,
  context: RunContext,
  done: Set<string>,
  digest: string | undefined,
): Promise<Published[]> {
  const published: Published[] = [];
  for (const target of plan.publish) {
    const key = targetKey(target, o.baseDir);
    const output = target.output === undefined ? outputs[0] : outputs.find((x) => x.format === target.output);
    if (output === undefined) {
      throw new UsageError(
        `image ${plan.name}: publish ${key} wants a ${target.output} output the image does not have`,
        {
          hint: "add it to outputs or change publish.output",
        },
      );
    }
    if (done.has(key)) {
      published.push({
        kind: key.slice(0, key.indexOf(":")) as Published["kind"],
        target: key,
        location: "(as locked)",
      });
      continue;
    }
    const sourceName = registryName(plan.root.source);
    published.push(
      await publish({ ...output, sourceDigest: digest, sourceName }, target, o.baseDir, context),
    );
  }
  return published;
}

/** True when every output exists with the size and SHA3-224 the lock records. */
async function outputsMatch(
  locked: LockedImage,
  files: string[],
  outputDir: string,
  memo: HashMemo,
): Promise<boolean> {
  if (locked.outputs.length !== files.length) return false;
  for (const [i, out] of locked.outputs.entries()) {
    if (out.file !== files[i]) return false;
    if ((await memo.sha3(outputDir, out.file)) !== out.sha3) return false;
  }
  return true;
}

/** The canonical name of a registry source (for the artifact's base.name); undefined for local ones. */
function registryName(source: string): string | undefined {
  try {
    const parsed = parseSource(source);
    return parsed.transport === "docker" ? parsed.reference.canonical : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The locked digest applied to a registry reference (`name:tag@digest`: fetched by digest, so a
 * moved tag does not matter). Other transports are opened as written and checked against it.
 */
function pinnedSource(source: string, digest: string | undefined): string {
  if (digest === undefined || !digest.startsWith("sha256:")) return source;
  try {
    const parsed = parseSource(source);
    if (parsed.transport !== "docker" || source.includes("@")) return source;
  } catch {
    return source;
  }
  return `${source}@${digest}`;
}

/**
 * One image's view of the run: the same environment, time and warning policy, with its messages
 * prefixed by its name (images run side by side).
 */
function imageContext(name: string, outer: RunContext): RunContext {
  const prefix = `${name}: `;
  const base = outer.reporter;
  const reporter: Reporter = {
    warn: (w: Warning) => base.warn({ ...w, message: prefix + w.message }),
    info: (m: string) => base.info(prefix + m),
    task: (label: string, total?: number): ProgressTask => base.task(prefix + label, total),
  };
  return createContext({
    env: outer.env,
    cwd: outer.cwd,
    dotenv: false,
    reporter,
    strict: false,
    signal: outer.signal,
    mkfsTime: outer.mkfsTime,
  });
}
