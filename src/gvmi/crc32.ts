/**
 * CRC-32/IEEE (a.k.a. CRC-32/ISO-HDLC, zlib's crc32): reflected polynomial 0xEDB88320, initial value
 * and final xor 0xFFFFFFFF. The Golem VM runtime checks the .gvmi trailer with `crc32::checksum_ieee`
 * (ya-runtime-vm runtime/src/deploy.rs); node:zlib gains `crc32` only in Node 22, and we support 20.
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC32 of `data`. Pass the previous result as `previous` to continue over a further piece
 * (same convention as zlib's `crc32(crc, buf)`).
 */
export function crc32(data: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) {
    // Index is always 0..255, so the lookup cannot be undefined.
    c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}
