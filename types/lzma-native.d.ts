// Minimal typing for the parts of lzma-native gvmconv uses (the package ships no types).
declare module "lzma-native" {
  import type { Duplex } from "node:stream";
  interface Filter {
    id: number;
    options?: Record<string, unknown>;
  }
  interface StreamOptions {
    check?: number;
    preset?: number;
    filters?: Filter[];
    synchronous?: boolean;
    threads?: number;
    memlimit?: number;
  }
  const lzma: {
    createStream(kind: "streamEncoder" | "easyEncoder" | "rawEncoder" | "autoDecoder" | "streamDecoder" | "rawDecoder" | "easyDecoder", options?: StreamOptions): Duplex;
    CHECK_NONE: number;
    CHECK_CRC32: number;
    CHECK_CRC64: number;
    FILTER_LZMA2: number;
    FILTER_X86: number;
    PRESET_EXTREME: number;
  };
  export default lzma;
}
