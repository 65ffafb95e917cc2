/**
 * Worker-thread side of WorkerPool (task-pool.ts): compresses blocks synchronously — the worker is
 * itself the unit of parallelism — and transfers each block back with its result written over it.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { CompressorSpec } from "../compressor/compressor.js";
import { createCompressor } from "../compressor/index.js";
import {
  blockCacheFor,
  compressBlockSync,
  type WorkerReply,
  type WorkerRequest,
  type WorkerShutdown,
} from "./task-pool.js";

const port = parentPort;
if (port === null) throw new Error("compress-worker.js must run in a worker thread");
const spec = (workerData as { spec: CompressorSpec }).spec;
const compressor = createCompressor(spec);
const cache = blockCacheFor(spec, compressor);

port.on("message", (req: WorkerRequest | WorkerShutdown) => {
  if ("shutdown" in req) {
    // Nothing else keeps this thread alive: closing the port lets it exit normally.
    port.close();
    return;
  }
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const data = new Uint8Array(req.buffer, req.offset, req.length);
    const { bytes, compressed, cached } = compressBlockSync(spec, compressor, cache, data, true, req.digest);
    // Compressed output is shorter than the block: copy it over the block's start and send the
    // block back (raw blocks are already in place).
    if (compressed) data.set(bytes, 0);
    reply = {
      id: req.id,
      buffer: req.buffer,
      offset: req.offset,
      length: req.length,
      resultLength: bytes.length,
      compressed,
      cached: cached === true,
    };
    transfer = [req.buffer];
  } catch (error) {
    reply = { id: req.id, error };
  }
  port.postMessage(reply, transfer);
});
