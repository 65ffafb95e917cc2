/**
 * `gvmconv SOURCE`: the main job, and a drop-in for gvmkit-build (same flags, same meaning).
 *
 * It converts an image to a .gvmi, prints where it went and its SHA3-224, and with --push /
 * --push-to uploads it to the Golem image registry. The incumbent's portal flags (--login,
 * --login-check, --logout) are accepted here too and do what `gvmconv login|logout` do.
 */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp, ProgramContext } from "../command-spec.js";
import { basename } from "node:path";
import { writeFile } from "node:fs/promises";

import type {
  ConvertOptions,
  ConvertPlan,
  ConvertResult,
  ImageDescription,
  OutputFormat,
  PushOptions,
  PushResult,
  PushTarget,
} from "../../index.js";
import { UsageError } from "../../errors.js";
import { reportError } from "../errors.js";
import { library, type Library } from "../library.js";
import { StdinLines } from "../prompt.js";
import { CliReporter, formatBytes } from "../reporter.js";
import {
  checkImageOutput,
  parseInteger,
  parseMkfsTime,
  parseSize,
  parseWriterOptions,
} from "../parse-options.js";
import { loginBeforePush, runLogin, runLoginCheck, runLogout } from "./login.js";

export class ConvertCommand extends Command<BaseContext> {
  // `gvmconv SOURCE` as gvmkit-build is called, and `gvmconv convert SOURCE` by name.
  static override paths = [Command.Default, ["convert"]];
  static override usage = Command.Usage({
    description: "convert a container image to a Golem VM image (.gvmi), without Docker",
    details: `
      SOURCE is an image reference (\`alpine:3.20\`, \`user/img:tag\`, \`ghcr.io/org/img@sha256:…\`,
      or \`docker://REF\`), an OCI layout (\`oci:DIR[:REF]\`), an OCI archive (\`oci-archive:FILE[:REF]\`),
      a \`docker save\` tar (\`docker-archive:FILE[:REF]\`) or, when a Docker engine happens to run,
      \`docker-daemon:REF\`.

      The .gvmi is written to a temporary file and renamed into place when complete. Its SHA3-224,
      which Golem providers verify, is printed on standard output. An existing output built from
      the same image with the same options is kept; one built otherwise is rebuilt; a file
      gvmconv did not write is replaced only with --force.

      --dry-run resolves the image (manifest and config only, no layer is downloaded) and prints
      the digest, the platforms on offer, the config the trailer would carry, the mount points
      and the warnings, writing nothing. --json prints one JSON document on standard output
      (other lines go to standard error); --json-file FILE writes gvmkit-build's
      --extra-json-info-path document to FILE (\`-\`: standard output).

      gvmkit-build's flags are accepted with the same meaning, so scripts switch by changing the
      command name. An image named like a command (\`ls\`, \`help\`) is given with its tag
      (\`ls:latest\`).
    `,
    examples: [
      ["Convert an image from Docker Hub", "$0 user/img:tag"],
      ["Convert and upload to the Golem registry", "$0 user/img:tag --push"],
      ["Convert a local OCI layout", "$0 oci:./layout:latest -o app.gvmi"],
      ["Root filesystem only, as SquashFS", "$0 alpine:3.20 --format squashfs -o alpine.sqfs"],
      ["See what would be built, writing nothing", "$0 user/img:tag --volume /data --dry-run"],
      ["The result as one JSON document on stdout", "$0 user/img:tag --json"],
    ],
  });

  /** Help groups follow the comments below; value names are what help and completion show. */
  static help: CommandHelp = {
    groups: [
      ["image creation", "--output"],
      ["image source", "--platform"],
      ["upload", "--push"],
      ["output", "--extra-json-info-path"],
    ],
    values: {
      "--output": "FILE",
      "--env": "KEY=VALUE",
      "--volume": "DIR",
      "--entrypoint": "CMD",
      "--workdir": "DIR",
      "--compression-method": "NAME",
      "--compression-level": "N",
      "--block-size": "SIZE",
      "--workers": "N",
      "--format": "FORMAT",
      "--mkfs-time": "SECONDS",
      "--platform": "OS/ARCH[/VARIANT]",
      "--cache-dir": "DIR",
      "--authfile": "FILE",
      "--creds": "USER[:PASS]",
      "--push-to": "USER/REPO:TAG",
      "--direct-file-upload": "FILE",
      "--upload-chunk-size": "SIZE",
      "--upload-workers": "N",
      "--extra-json-info-path": "FILE",
    },
    choices: { "--compression-method": ["gzip", "xz", "lzo", "lz4"], "--format": ["gvmi", "squashfs"] },
    files: ["SOURCE"],
  };

  source = Option.String({ name: "SOURCE", required: false });

  // Image creation (gvmkit-build)
  output = Option.String("-o,--output", { description: "output file (default <repo>-<tag>-<id>.gvmi)" });
  force = Option.Boolean("-f,--force", false, {
    description: "rebuild even if the output matches the image",
  });
  env = Option.Array("--env", { description: "add or replace an environment variable, KEY=VALUE" });
  vol = Option.Array("--vol,--volume", { description: "add a volume directory (repeatable)" });
  entrypoint = Option.String("--entrypoint", { description: "replace the image's entrypoint" });
  workdir = Option.String("--workdir", { description: "replace the image's working directory" });
  keepUser = Option.Boolean("--keep-user", false, {
    description: "keep the image's USER, resolved to uid:gid through its /etc/passwd and /etc/group",
  });
  compressionMethod = Option.String("--compression-method,--compression", {
    description: "gzip (default), xz, lzo or lz4 (zstd is refused: Golem VMs cannot read it)",
  });
  compressionLevel = Option.String("--compression-level,--level", {
    description:
      "gzip 1–12 (default 6; 10–12 need libdeflate), xz 0–9 (default 6), lzo 1–9 (default 8), lz4 0 plain / 1 HC (default)",
  });
  blockSize = Option.String("--block-size", { description: "SquashFS block size, 4K … 1M (default 128K)" });
  workers = Option.String("--workers", { description: "compression threads (default: all cores)" });
  format = Option.String("--format", {
    description: "gvmi (default) or squashfs (the root filesystem alone)",
  });
  mkfsTime = Option.String("--mkfs-time", {
    description: "filesystem time, seconds (default SOURCE_DATE_EPOCH or 0)",
  });
  alwaysCompress = Option.Boolean("--always-compress", false, {
    description: "compress every block, even those whose bytes look random (slower; see README)",
  });
  strict = Option.Boolean("--strict", false, { description: "treat layer warnings as errors" });

  // Image source
  platform = Option.String("--platform", {
    description: "platform to pick from a multi-arch image (default linux/amd64)",
  });
  cacheDir = Option.String("--cache-dir", {
    description: "cache directory: blobs, and blocks/ with GVMCONV_BLOCK_CACHE=1 (default ~/.cache/gvmconv)",
  });
  insecure = Option.Boolean("--insecure", false, {
    description: "allow plain HTTP and untrusted TLS for the registry",
  });
  authfile = Option.String("--authfile", {
    description: "registry credentials from this auth.json only (as podman, skopeo)",
  });
  creds = Option.String("--creds", {
    description: "credentials for the image's registry (no :PASS: asked, or read from stdin)",
  });

  // Upload (gvmkit-build)
  push = Option.Boolean("--push", false, {
    description: "upload to the Golem registry as user/repo:tag from SOURCE",
  });
  pushTo = Option.String("--push-to", { description: "upload to the Golem registry as user/repo:tag" });
  nologin = Option.Boolean("--nologin", false, {
    description: "upload anonymously (the registry may expire it)",
  });
  login = Option.Boolean("--login", false, { description: "log in to the Golem registry and exit" });
  loginCheck = Option.Boolean("--login-check", false, { description: "check the stored login and exit" });
  logout = Option.Boolean("--logout", false, { description: "forget the stored login and exit" });
  directFileUpload = Option.String("-d,--direct-file-upload", {
    description: "upload this .gvmi instead of building one",
  });
  uploadChunkSize = Option.String("--upload-chunk-size", {
    description: "upload chunk size in bytes (default from file size)",
  });
  uploadWorkers = Option.String("--upload-workers", { description: "parallel chunk uploads (default 4)" });

  // Output
  json = Option.Boolean("--json", false, {
    description: "print one JSON document on stdout (other lines go to stderr)",
  });
  jsonFile = Option.String("--json-file,--extra-json-info-path", {
    description: "write image path, hash and repository info as JSON to FILE (- for stdout)",
  });
  dryRun = Option.Boolean("--dry-run", false, {
    description: "resolve the image and show what would be built; download and write nothing",
  });
  hideProgress = Option.Boolean("--hide-progress,--quiet,-q", false, {
    description: "no progress, warnings and errors only",
  });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stderr, env } = this.context;
    const stdout = this.#human();
    const reporter = await CliReporter.forStream(stderr, env, this.hideProgress);
    try {
      if (this.login) return await runLogin(this.context, reporter);
      if (this.logout) return await runLogout(this.context, reporter);
      if (this.loginCheck) return await runLoginCheck(this.context, reporter, this.json);

      // Every option is parsed before any work starts.
      const lib = await library();
      const target = this.#pushTarget(lib);
      const pushing = this.push || this.pushTo !== undefined;
      const push = this.#pushOptions(target);
      checkImageOutput("-o", this.output);
      if (
        this.jsonFile !== undefined &&
        this.directFileUpload === undefined &&
        this.#format() === "squashfs"
      ) {
        throw new UsageError("--json-file describes a .gvmi", {
          hint: "drop --format squashfs, or use --json",
        });
      }
      if (this.dryRun && (pushing || this.directFileUpload !== undefined)) {
        throw new UsageError("--dry-run builds nothing, so it cannot upload", {
          hint: "drop --push/--push-to/-d to see the plan",
        });
      }
      // One context for the whole run: the environment with .env beneath it, as gvmkit-build.
      const program = this.context as ProgramContext;
      program.honourSignal?.();
      const context = lib.createContext({
        env,
        reporter,
        strict: this.strict,
        mkfsTime: parseMkfsTime(this.mkfsTime),
        signal: program.signal,
      });
      const registryCredentials = await this.#registryCredentials();
      // On a terminal, a missing login is asked for now, before any layer is read (gvmkit-build).
      if (pushing && target?.user !== undefined) {
        push.credentials = await loginBeforePush(this.context, reporter, target.user);
      }

      let result: ConvertResult | undefined;
      let pushed: PushResult | undefined;
      let description: ImageDescription | undefined;
      if (this.directFileUpload !== undefined) {
        const file = this.directFileUpload;
        if (pushing) pushed = await lib.push(file, { ...push, context });
        else description = await lib.describeImage(file, { chunkSize: push.chunkSize, context });
      } else {
        if (this.source === undefined)
          throw new UsageError("missing SOURCE", { hint: "e.g. gvmconv user/img:tag; see gvmconv --help" });
        const base = this.#convertOptions();
        const image = { ...base.image, credentials: registryCredentials, authFile: this.authfile };
        const options = { ...base, image, context };
        if (this.dryRun) {
          const plan = await lib.planConvert(this.source, options);
          if (this.json) this.context.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
          else this.context.stdout.write(formatPlan(plan, false));
          return 0;
        }
        if (pushing) {
          const both = await lib.convertAndPush(this.source, { ...options, push });
          result = both.conversion;
          pushed = both.push;
        } else {
          result = await lib.convert(this.source, options);
          // Every run leaves <image>.descr.bin beside a .gvmi, as gvmkit-build.
          if (result.format === "gvmi") {
            description = await lib.describeImage(result.outputPath, { chunkSize: push.chunkSize, context });
          }
        }
      }
      description ??= pushed?.description;

      if (description !== undefined) this.#printImageLink(description, pushed);
      if (result !== undefined) {
        stdout.write(
          `${result.kept ? "kept" : "wrote"}: ${result.outputPath} (${formatBytes(result.size)})\n`,
        );
      }
      if (pushed?.attached) stdout.write(`tag: ${lib.formatPushTarget(target!)}\n`);
      if (description !== undefined) this.#printVmRepo(description, pushed);
      if (result !== undefined && description === undefined) {
        // --format squashfs: no .gvmi, no descriptor; the hash is still the result.
        stdout.write(`sha3-224: ${result.sha3}\n`);
      }

      if (this.jsonFile !== undefined && description !== undefined) {
        const info = `${JSON.stringify(lib.imageInfoDocument(description, result, pushed), null, 2)}\n`;
        const path = this.jsonFile;
        // `-` is standard output, as everywhere else; never a file named `-`.
        if (path === "-") this.context.stdout.write(info);
        else
          await writeFile(path, info).catch((err: unknown) => {
            throw new lib.OutputWriteError(path, `cannot write ${path}: ${(err as Error).message}`, {
              cause: err,
            });
          });
      }
      if (this.json) {
        const doc = {
          format: result?.format ?? "gvmi",
          outputPath: result?.outputPath ?? description?.imagePath ?? null,
          kept: result?.kept ?? false,
          size: result?.size ?? description?.size ?? null,
          sha3: result?.sha3 ?? description?.sha3 ?? null,
          imageId: result?.imageId ?? null,
          reference: result?.reference ?? null,
          containerConfig: result?.containerConfig ?? null,
          addedMountPoints: result?.addedMountPoints ?? [],
          descriptor:
            description === undefined
              ? null
              : {
                  path: description.descriptorPath,
                  sha256: description.descriptorSha256,
                  reused: description.reused,
                },
          push:
            pushed === undefined
              ? null
              : {
                  downloadUrl: pushed.downloadUrl,
                  tag: pushed.attached
                    ? {
                        repository: pushed.attached.repository,
                        tag: pushed.attached.tag,
                        url: pushed.attached.url,
                        user: pushed.attached.user,
                      }
                    : null,
                },
          warnings: (result?.warnings ?? []).map((w) => ({ code: w.code, message: w.message })),
        };
        this.context.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      }
      return 0;
    } catch (err) {
      // The progress frame comes off the screen before the error line (and shows the cursor).
      reporter.close();
      return reportError(err, stderr, this.debug);
    }
  }

  /**
   * gvmkit-build's descriptor and upload lines, byte for byte (src/main.rs, src/upload.rs), which
   * Golem's docs tell users to copy and log scrapers look for: the descriptor written (or reused,
   * with the image link's other spelling), then, after an upload, the download link.
   */
  #printImageLink(description: ImageDescription, pushed: PushResult | undefined): void {
    const stdout = this.#human();
    if (description.reused) {
      stdout.write(" -- file descriptor already exists and is newer\n");
      stdout.write(`Image link (for use in SDK): ${description.sha3}\n`);
    } else {
      stdout.write(` * Writing file descriptor to ${description.descriptorPath}\n`);
      stdout.write(" -- file descriptor created successfully\n");
      stdout.write(` -- image link (for use in SDK): ${description.sha3}\n`);
    }
    if (pushed !== undefined) stdout.write(` -- download link: ${pushed.downloadUrl}\n`);
  }

  /** The values for yapapi's `vm.repo(image_hash=…, image_url=…)`, with the real URL when there is one. */
  #printVmRepo(description: ImageDescription, pushed: PushResult | undefined): void {
    const stdout = this.#human();
    if (pushed !== undefined) {
      stdout.write(`vm.repo(image_hash="${description.sha3}", image_url="${pushed.downloadUrl}")\n`);
    } else {
      const name = basename(description.imagePath);
      stdout.write(
        `self-hosted: vm.repo(image_hash="${description.sha3}", image_url=<the URL where you serve ${name}>)\n`,
      );
    }
  }

  /** With --json, standard output carries the JSON document alone; the human lines go to stderr. */
  #human(): BaseContext["stdout"] {
    return this.json ? this.context.stderr : this.context.stdout;
  }

  #format(): OutputFormat {
    const format = this.format ?? "gvmi";
    if (format !== "gvmi" && format !== "squashfs") {
      throw new UsageError(`unknown --format '${format}'`, { hint: "use gvmi or squashfs" });
    }
    if (format === "squashfs" && this.output === undefined) {
      throw new UsageError("--format squashfs needs -o OUT");
    }
    return format;
  }

  #pushTarget(lib: Library): PushTarget | undefined {
    if (this.nologin && this.pushTo !== undefined) {
      throw new UsageError("--push-to and --nologin are incompatible", {
        hint: "use --push --nologin for an anonymous upload",
      });
    }
    if (this.nologin) return undefined;
    if (this.pushTo !== undefined) {
      const target = lib.parsePushTarget(this.pushTo);
      if (target.user === undefined) throw new UsageError("--push-to needs user/repository:tag");
      return target;
    }
    if (this.push) {
      if (this.source === undefined) throw new UsageError("--push needs SOURCE (or use --push-to)");
      return lib.pushTargetFromSource(this.source);
    }
    return undefined;
  }

  #pushOptions(
    target: PushTarget | undefined,
  ): Omit<PushOptions, "env" | "reporter" | "strict" | "mkfsTime"> {
    return {
      target,
      chunkSize:
        this.uploadChunkSize === undefined
          ? undefined
          : parseSize("--upload-chunk-size", this.uploadChunkSize),
      workers:
        this.uploadWorkers === undefined
          ? undefined
          : parseInteger("--upload-workers", this.uploadWorkers, 1, 64),
    };
  }

  /** `--creds USER[:PASS]` as skopeo: the password after the first colon, else asked (or one stdin line). */
  async #registryCredentials(): Promise<{ username: string; password: string } | undefined> {
    if (this.creds === undefined) return undefined;
    const colon = this.creds.indexOf(":");
    const username = colon < 0 ? this.creds : this.creds.slice(0, colon);
    if (username === "")
      throw new UsageError("--creds needs a user name", { hint: "--creds USER[:PASSWORD]" });
    if (colon >= 0) return { username, password: this.creds.slice(colon + 1) };
    const password = await new StdinLines(this.context).next(`password for ${username}: `, true);
    if (password === "") {
      throw new UsageError(`no password given for --creds ${username}`, {
        hint: "type it when asked, pipe it on standard input, or give --creds USER:PASSWORD",
      });
    }
    return { username, password };
  }

  #convertOptions(): ConvertOptions {
    return {
      output: this.output,
      format: this.#format(),
      force: this.force,
      writer: parseWriterOptions({
        compression: { option: "--compression-method", value: this.compressionMethod },
        level: { option: "--compression-level", value: this.compressionLevel },
        blockSize: this.blockSize,
        workers: this.workers,
        alwaysCompress: this.alwaysCompress,
      }),
      image: { platform: this.platform, cacheDir: this.cacheDir, insecure: this.insecure },
      overrides: {
        env: this.env,
        volumes: this.vol,
        entrypoint: this.entrypoint === undefined ? undefined : [this.entrypoint],
        workdir: this.workdir,
        keepUser: this.keepUser,
      },
    };
  }
}

/**
 * The plan as `--dry-run` and `inspect REF` print it; `warnings` false when the reporter has
 * already printed them on standard error (--dry-run, as a real run does).
 */
export function formatPlan(plan: ConvertPlan, warnings = true): string {
  const outcome = {
    create: "would be written",
    keep: "exists, built from this image with these options: would be kept",
    replace: "exists, built otherwise: would be rebuilt",
    refuse: "exists and gvmconv did not write it: refused without --force",
  }[plan.output];
  const lines = [
    `source:      ${plan.source}${plan.reference !== undefined ? ` (${plan.reference})` : ""}`,
    `transport:   ${plan.transport}`,
    ...(plan.digest !== undefined ? [`digest:      ${plan.digest}`] : []),
    ...(plan.manifestDigest !== undefined && plan.manifestDigest !== plan.digest
      ? [`manifest:    ${plan.manifestDigest}`]
      : []),
    `image id:    ${plan.imageId}`,
    `platform:    ${plan.platform}`,
    `platforms:   ${plan.platforms.join(", ")}`,
    `layers:      ${plan.layers.length} (${formatBytes(plan.downloadSize)} to download on a cold cache)`,
    `output:      ${plan.outputPath} (${plan.format}) ${outcome}`,
  ];
  if (plan.containerConfig !== undefined) {
    lines.push("config:");
    for (const line of JSON.stringify(plan.containerConfig, null, 2).split("\n")) lines.push(`  ${line}`);
  }
  if (plan.mountPoints.length > 0)
    lines.push(`mount points added where the image lacks them: ${plan.mountPoints.join(", ")}`);
  if (warnings) for (const w of plan.warnings) lines.push(`warning ${w.code}: ${w.message}`);
  return `${lines.join("\n")}\n`;
}
