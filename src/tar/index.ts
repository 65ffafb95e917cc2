/**
 * The tar codec shared by every tar consumer: header fields (octal and base-256 numbers), pax
 * records, GNU long names, GNU sparse maps and the one archive-path rule. It imports only src/errors.ts and node
 * built-ins; src/oci and src/layers import it from here.
 */
export { SparseMapError, TarFormatError, TarTooLargeError } from "./errors.js";
export { decodeNumber } from "./number.js";
export {
  BLOCK_SIZE,
  HEADER_FIELDS,
  decodeGnuLongName,
  decodeString,
  headerChecksumOk,
  headerName,
  headerNumber,
  headerString,
  headerType,
  isZeroBlock,
  type HeaderField,
} from "./header.js";
export {
  parsePaxRecordList,
  parsePaxRecords,
  paxRecordsByKey,
  paxText,
  paxNumber,
  paxInteger,
  paxSize,
  memberSize,
} from "./pax.js";
export {
  MAX_SPARSE_SEGMENTS,
  MAX_SPARSE_EXPANSION,
  SparseExpansionBudget,
  GNU_SPARSE_FIELDS,
  GNU_SPARSE_EXTENSION,
  SparseMap10Parser,
  addSegments,
  checkSparseMap,
  collectPaxSparse00,
  decodeGnuSparseExtension,
  decodeGnuSparseHeader,
  parseSparseMapRecord,
  parseSparseSize,
  type GnuSparseBlock,
  type SparseFormat,
  type SparseMap,
  type SparseSegment,
} from "./sparse.js";
export { normalizeTarPath } from "./path.js";
export { expandSparse, HOLE_CHUNK_SIZE, type SparseMember } from "./sparse-content.js";
