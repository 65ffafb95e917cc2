/**
 * `gvmconv cache ls` and `gvmconv cache prune`: see and trim the blob cache convert downloads
 * into, and the block cache (`GVMCONV_BLOCK_CACHE`) of compressed data blocks.
 */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import { UsageError } from "../../errors.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";
import { formatBytes } from "../reporter.js";

export class CacheCommand extends Command<BaseContext> {
  static override paths = [["cache"]];
  static override usage = Command.Usage({
    description: "list or prune the cache (layers and configs, and compressed blocks, kept between runs)",
    details: `
      \`cache ls\` lists every cached blob with its size and when a run last used it, then the
      total, and any interrupted downloads (the next run resumes them). \`cache prune\` removes
      blobs not used for --older-than DURATION (e.g. 12h, 7d), or with --all everything, and says
      how much it freed. The cache is --cache-dir, else $XDG_CACHE_HOME/gvmconv, else
      ~/.cache/gvmconv.

      The block cache (compressed data blocks, GVMCONV_BLOCK_CACHE=1) is \`blocks/\` in it, or
      the directory GVMCONV_BLOCK_CACHE names: \`cache ls\` gives its entries, bytes and bound
      (GVMCONV_BLOCK_CACHE_MAX) and whether it is on, and \`cache prune\` applies the same
      --older-than (by last use) or --all to it.
    `,
    examples: [
      ["List the cache", "$0 cache ls"],
      ["Remove blobs unused for a week", "$0 cache prune --older-than 7d"],
      ["Empty the cache, as JSON", "$0 cache prune --all --json"],
    ],
  });

  static help: CommandHelp = {
    values: { "--older-than": "DURATION", "--cache-dir": "DIR" },
    choices: { ACTION: ["ls", "prune"] },
  };

  action = Option.String({ name: "ACTION" });
  all = Option.Boolean("--all", false, {
    description: "prune: remove every blob, idle partial download and block cache entry",
  });
  olderThan = Option.String("--older-than", {
    description: "prune: remove blobs and cached blocks not used for this long (90m, 12h, 7d, 2w)",
  });
  cacheDir = Option.String("--cache-dir", { description: "cache directory (default ~/.cache/gvmconv)" });
  json = Option.Boolean("--json", false, { description: "print one JSON object" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      if (this.action !== "ls" && this.action !== "prune")
        throw new UsageError(`cache takes ls or prune, got '${this.action}'`);
      const lib = await library();
      const base = { env: this.context.env, cacheDir: this.cacheDir };
      if (this.action === "ls") {
        if (this.all || this.olderThan !== undefined)
          throw new UsageError("--all and --older-than are for cache prune; cache ls takes neither");
        const listing = await lib.listCache(base);
        if (this.json) {
          stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
          return 0;
        }
        const blocks = listing.blockCache;
        // Said whenever it is on or holds something; a user who never turned it on sees nothing new.
        const blockLine =
          blocks.enabled || blocks.entries > 0
            ? `block cache: ${blocks.entries} entries, ${blocks.bytes} bytes (${formatBytes(blocks.bytes)}), ` +
              `bound ${formatBytes(blocks.maxBytes)}, in ${blocks.dir}` +
              (blocks.enabled ? "\n" : "; off here (GVMCONV_BLOCK_CACHE unset or 0)\n")
            : "";
        if (listing.blobs.length === 0 && listing.partials.length === 0 && blocks.entries === 0) {
          stdout.write(`cache ${listing.dir} is empty\n${blockLine}`);
          return 0;
        }
        for (const b of listing.blobs)
          stdout.write(`${b.digest}  ${String(b.size).padStart(12)}  ${b.lastUsed.toISOString()}\n`);
        for (const p of listing.partials)
          stdout.write(
            `partial ${p.path}  ${String(p.size).padStart(12)}  ${p.modified.toISOString()}${p.inUse ? "  (in use)" : ""}\n`,
          );
        stdout.write(
          `total: ${listing.blobs.length} blobs, ${listing.totalBytes} bytes (${formatBytes(listing.totalBytes)})` +
            (listing.partials.length > 0
              ? `; ${listing.partials.length} partial downloads, ${listing.partialBytes} bytes`
              : "") +
            ` in ${listing.dir}\n`,
        );
        stdout.write(blockLine);
        return 0;
      }
      const olderThanMs = this.olderThan === undefined ? undefined : lib.parseDuration(this.olderThan);
      const result = await lib.pruneCache({ ...base, all: this.all, olderThanMs });
      if (this.json) {
        stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return 0;
      }
      for (const b of result.removed) stdout.write(`removed ${b.digest} (${b.size} bytes)\n`);
      for (const p of result.removedPartials) stdout.write(`removed partial ${p}\n`);
      const blocks = result.blockCache;
      if (blocks.removedEntries > 0 || blocks.keptEntries > 0)
        stdout.write(
          `block cache: ${blocks.removedEntries} entries removed (${blocks.removedBytes} bytes), ` +
            `${blocks.keptEntries} kept (${blocks.keptBytes} bytes) in ${blocks.dir}\n`,
        );
      stdout.write(
        `freed ${result.freedBytes} bytes (${formatBytes(result.freedBytes)}): ${result.removed.length} blobs removed, ` +
          `${result.keptBlobs} kept (${result.keptBytes} bytes) in ${result.dir}\n`,
      );
      return 0;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }
}
