/**
 * Looking at the first bytes of a stream (to sniff gzip or zstd magic) without consuming them.
 * Used by src/decompress.ts, the one place compression is sniffed.
 */
import { Readable } from "node:stream";

/**
 * The first `n` bytes of `stream` (fewer if it ends first), and the stream to read from the
 * start: `stream` itself with the bytes put back (`unshift`), or, when it ended within them
 * (unshift is refused after 'end'), a new stream of just those bytes.
 */
export async function peek(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = (): void => {
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("close", onClose);
    };
    const onEnd = (): void => {
      cleanup();
      const head = Buffer.concat(chunks);
      resolve({ head, stream: Readable.from(head.length > 0 ? [head] : [], { objectMode: false }) });
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    // Destroyed without an error: neither 'end' nor 'error' comes, only 'close' (an 'error' is
    // emitted before its 'close', so this is the case with no error to report).
    const onClose = (): void => {
      cleanup();
      reject(
        Object.assign(new Error("the stream closed before its first bytes could be read"), {
          code: "ERR_STREAM_PREMATURE_CLOSE",
        }),
      );
    };
    const onReadable = (): void => {
      let chunk: Buffer | string | null;
      while (length < n && (chunk = stream.read() as Buffer | string | null) !== null) {
        const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        chunks.push(bytes);
        length += bytes.length;
      }
      if (length >= n) {
        cleanup();
        const head = Buffer.concat(chunks);
        stream.unshift(head);
        resolve({ head, stream });
      }
    };
    stream.on("readable", onReadable);
    stream.on("end", onEnd);
    stream.on("error", onError);
    stream.on("close", onClose);
    onReadable();
  });
}
