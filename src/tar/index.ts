/**
 * The tar codec shared by every tar consumer: header fields (octal and base-256 numbers), pax
 * records, GNU long names and the one archive-path rule. It imports only src/errors.ts and node
 * built-ins; src/oci and src/layers import it from here.
 */
export { TarFormatError } from "./errors.js";
export { decodeNumber } from "./number.js";
export {
  BLOCK_SIZE,
  HEADER_FIELDS,
  decodeGnuLongName,
  decodeString,
  headerName,
  headerNumber,
  headerString,
  headerType,
  isZeroBlock,
  type HeaderField,
} from "./header.js";
export { parsePaxRecords, paxText, paxNumber, paxInteger } from "./pax.js";
export { normalizeTarPath } from "./path.js";
