/**
 * Worker-thread side of WorkerPool (task-pool.ts): compresses blocks synchronously — the worker is
 * itself the unit of parallelism — and transfers the result back without copying when it can.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { CompressorSpec } from "./compressor/compressor.js";
import { createCompressor } from "./compressor/index.js";
import { compressOrRaw, type WorkerReply, type WorkerRequest, type WorkerShutdown } from "./task-pool.js";

const port = parentPort;
if (port === null) throw new Error("compress-worker.js must run in a worker thread");
const compressor = createCompressor((workerData as { spec: CompressorSpec }).spec);

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
    const { bytes, compressed } = compressOrRaw(data, compressor.compressSync(data));
    let out = bytes;
    // A compressor may hand back a view into a larger or pooled buffer (Buffer.concat of small
    // results comes from Node's shared pool): copy the few bytes then. Not `out.slice()`: on a
    // Buffer that is a view of the same memory, not a copy.
    if (out.byteOffset !== 0 || out.byteLength !== out.buffer.byteLength || !(out.buffer instanceof ArrayBuffer)) {
      out = new Uint8Array(out);
    }
    const buffer = out.buffer as ArrayBuffer;
    reply = { id: req.id, buffer, offset: 0, length: out.byteLength, compressed };
    transfer = [buffer];
  } catch (error) {
    reply = { id: req.id, error };
  }
  port.postMessage(reply, transfer);
});
