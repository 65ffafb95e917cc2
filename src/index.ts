/** gvmconv's library API. The CLI (src/cli) is a thin layer over what is exported here. */
export { GvmconvError, UsageError, isGvmconvError } from "./errors.js";
export type { Reporter, ProgressTask, Warning } from "./reporter.js";
export { silentReporter, CollectingReporter } from "./reporter.js";
export {
  convert,
  OutputRequiredError,
  type ConvertOptions,
  type ConvertResult,
  type OutputFormat,
} from "./convert.js";
export { OutputExistsError, OutputWriteError } from "./atomic-output.js";
