/** Public surface of the layer sources (tar reader, directory walker). Other folders import only from here. */
export {
  readTar,
  readTarRecords,
  TAR_WARNINGS,
  type ReadTarOptions,
  type TarRecord,
  type TarContent,
} from "./tar-reader.js";
export { TarFormatError } from "../tar/index.js";
export {
  readDirectory,
  SourceReadError,
  DIRECTORY_WARNINGS,
  type ReadDirectoryOptions,
} from "./directory-source.js";
export { openEntrySource, type OpenEntrySourceOptions } from "./entry-source.js";
export { mergeLayers, LayerMerger, type LayerEntries, type LayerSource, type MergeOptions } from "./merge.js";
export { MERGE_WARNINGS, type MergeWarningCode } from "./merge-warnings.js";
export { classifyWhiteout } from "./whiteout.js";
