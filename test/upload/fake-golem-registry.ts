/**
 * A fake Golem image registry on 127.0.0.1 for tests.
 *
 * It implements the protocol as gvmkit-build-rs sends it (src/upload.rs, src/chunks.rs, src/main.rs;
 * golemfactory/gvmkit-build-rs at 2198cad) — the real server is not public, so response bodies
 * beyond what upload.rs reads are our guesses:
 *
 *   GET  /v1/image/descr/{sha}          200 {descriptor:"ok", version, status:"full"|"partial", chunks:[0|1…]}
 *                                       404 {descriptor:"not found"} for an unknown descriptor
 *   POST /v1/image/push/descr           multipart `file`: a descriptor (parsed and checked; 400 if invalid)
 *   POST /v1/image/push/chunk           multipart descr-sha256, chunk-no, chunk-sha256, chunk-pos, chunk-len,
 *                                       file; each checked against the descriptor and the data (400 if not)
 *   POST /v1/image/descr/attach/{sha}   multipart tag, username, repository, login, token[, check];
 *                                       401 bad login/token, 403 username ≠ login, 400 image incomplete
 *   POST /auth/pat/login                JSON {username, password}: 200 / 401
 *
 * It records every request (with multipart fields, file sizes instead of file bytes) so tests can
 * assert what was sent, and can destroy the socket on a chosen chunk attempt to simulate a drop, or
 * answer it with a chosen status. `fault` makes any endpoint misbehave as the hostile image
 * registry does (test/support/hostile-registry.ts): stall, stop mid-body, trickle, echo what it
 * was sent (the token, the password) in an error body and headers, or pause until released.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  /** Multipart text fields, or the JSON body's fields. */
  fields: Record<string, string>;
  /** Size of the multipart `file` part, when there was one. */
  fileSize?: number;
}

interface StoredUpload {
  size: number;
  chunkSize: number;
  chunkHashes: string[];
  chunks: (Buffer | undefined)[];
}

export interface FakeRegistryOptions {
  /** Accepted user → token pairs. */
  users?: Record<string, string>;
  /**
   * Return "destroy" to drop the connection (before answering) for this chunk upload, or an HTTP
   * status to answer it with instead of storing it.
   */
  onChunk?: (chunkNo: number, attempt: number) => "destroy" | number | undefined;
  /** Report "partial" for this many status polls after the last chunk (the registry's NFS delay). */
  settlePolls?: number;
  /** A fault for this request (`path` as received, `attempt` 1-based per path), or undefined. */
  fault?: (path: string, attempt: number) => GolemFault | undefined;
}

export type GolemFault =
  /** Read the request, answer nothing. */
  | { kind: "stall" }
  /** 200 with a declared body of 1000 bytes, send `after`, then nothing. */
  | { kind: "stall-body"; after: number }
  /** 200, then one byte every `intervalMs`. */
  | { kind: "trickle"; intervalMs: number }
  /** `status` (default 500) with a body and headers echoing every field and header received. */
  | { kind: "echo"; status?: number }
  /** Hold the request until `release()`, then handle it normally; `paused()` tells the test. */
  | { kind: "pause" }
  /** 307 to `to` + the same path (another host, for a client that would follow it). */
  | { kind: "redirect"; to: string };

export class FakeGolemRegistry {
  readonly requests: RecordedRequest[] = [];
  readonly uploads = new Map<string, StoredUpload>();
  /** `user/repository:tag` → descriptor sha256. */
  readonly tags = new Map<string, string>();
  #server: Server;
  #options: FakeRegistryOptions;
  #chunkAttempts = new Map<number, number>();
  #pollsUntilSettled = new Map<string, number>();
  #attempts = new Map<string, number>();
  #timers = new Set<NodeJS.Timeout>();
  #releases: (() => void)[] = [];
  #pauseWaiters: ((path: string) => void)[] = [];
  #pausedPaths: string[] = [];
  url = "";

  constructor(options: FakeRegistryOptions = {}) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** Resolves with the path of the next request (or one already waiting) held by a `pause` fault. */
  paused(): Promise<string> {
    const waiting = this.#pausedPaths.shift();
    if (waiting !== undefined) return Promise.resolve(waiting);
    return new Promise((resolve) => this.#pauseWaiters.push(resolve));
  }

  /** Let every paused request go on. */
  release(): void {
    const r = this.#releases;
    this.#releases = [];
    this.#pausedPaths = [];
    for (const f of r) f();
  }

  async stop(): Promise<void> {
    this.release();
    for (const t of this.#timers) clearInterval(t);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Pre-load a complete upload (the "server already has it" case). */
  seed(descriptor: Uint8Array, file: Uint8Array): string {
    const sha = this.#storeDescriptor(Buffer.from(descriptor));
    const up = this.uploads.get(sha)!;
    up.chunks = up.chunkHashes.map((_, i) =>
      Buffer.from(file.subarray(i * up.chunkSize, (i + 1) * up.chunkSize)),
    );
    return sha;
  }

  /** The file as assembled from received chunks (undefined while incomplete). */
  assembled(sha: string): Buffer | undefined {
    const up = this.uploads.get(sha);
    if (!up || up.chunks.some((c) => c === undefined)) return undefined;
    return Buffer.concat(up.chunks as Buffer[]);
  }

  /** Requests to a path prefix. */
  sent(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const method = req.method ?? "GET";
    const body = await readBody(req);
    const rec: RecordedRequest = { method, path, fields: {} };
    this.requests.push(rec);
    let file: Buffer | undefined;
    if ((req.headers["content-type"] ?? "").startsWith("multipart/form-data")) {
      const form = await new Request("http://x/", {
        method: "POST",
        headers: { "content-type": req.headers["content-type"]! },
        body,
      }).formData();
      for (const [k, v] of form) {
        if (typeof v === "string") rec.fields[k] = v;
        else if (k === "file") {
          file = Buffer.from(await v.arrayBuffer());
          rec.fileSize = file.length;
        }
      }
    } else if (body.length > 0) {
      Object.assign(rec.fields, JSON.parse(body.toString()));
    }

    const attempt = (this.#attempts.get(path) ?? 0) + 1;
    this.#attempts.set(path, attempt);
    const fault = this.#options.fault?.(path, attempt);
    if (fault !== undefined && fault.kind !== "pause") {
      this.#misbehave(fault, req, res, rec);
      return;
    }
    if (fault?.kind === "pause") {
      await new Promise<void>((resume) => {
        this.#releases.push(resume);
        const waiter = this.#pauseWaiters.shift();
        if (waiter !== undefined) waiter(path);
        else this.#pausedPaths.push(path);
      });
    }

    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
    };
    const text = (status: number, value: string): void => {
      res.writeHead(status, { "content-type": "text/plain" }).end(value);
    };

    let m: RegExpExecArray | null;
    if (method === "GET" && (m = /^\/v1\/image\/descr\/([0-9a-f]{64})$/.exec(path))) {
      const up = this.uploads.get(m[1]!);
      if (!up) return json(404, { descriptor: "not found" });
      let full = up.chunks.every((c) => c !== undefined);
      const wait = this.#pollsUntilSettled.get(m[1]!) ?? 0;
      if (full && wait > 0) {
        this.#pollsUntilSettled.set(m[1]!, wait - 1);
        full = false;
      }
      return json(200, {
        descriptor: "ok",
        version: 0,
        status: full ? "full" : "partial",
        chunks: up.chunks.map((c) => (c === undefined ? 0 : 1)),
      });
    }
    if (method === "POST" && path === "/v1/image/push/descr") {
      if (!file) return text(400, "missing file");
      try {
        this.#storeDescriptor(file);
      } catch (err) {
        return text(400, String(err));
      }
      return text(200, "ok");
    }
    if (method === "POST" && path === "/v1/image/push/chunk") {
      const f = rec.fields;
      const no = Number(f["chunk-no"]);
      const attempt = (this.#chunkAttempts.get(no) ?? 0) + 1;
      this.#chunkAttempts.set(no, attempt);
      const fault = this.#options.onChunk?.(no, attempt);
      if (fault === "destroy") {
        req.socket.destroy();
        return;
      }
      if (typeof fault === "number") return text(fault, `chunk ${no} refused with ${fault}`);
      const up = this.uploads.get(f["descr-sha256"] ?? "");
      if (!up || !file) return text(400, "unknown descriptor or missing file");
      const pos = no * up.chunkSize;
      const len = Math.min(up.chunkSize, up.size - pos);
      const sha = createHash("sha256").update(file).digest("hex");
      if (
        !(no >= 0 && no < up.chunkHashes.length) ||
        Number(f["chunk-pos"]) !== pos ||
        Number(f["chunk-len"]) !== len ||
        file.length !== len ||
        f["chunk-sha256"] !== up.chunkHashes[no] ||
        sha !== up.chunkHashes[no]
      ) {
        return text(400, `chunk ${no} does not match the descriptor`);
      }
      up.chunks[no] = file;
      if (up.chunks.every((c) => c !== undefined)) {
        this.#pollsUntilSettled.set(f["descr-sha256"]!, this.#options.settlePolls ?? 0);
      }
      return text(200, "ok");
    }
    if (method === "POST" && (m = /^\/v1\/image\/descr\/attach\/([0-9a-f]{64})$/.exec(path))) {
      const f = rec.fields;
      const users = this.#options.users ?? {};
      if (!f["login"] || users[f["login"]] !== f["token"]) return text(401, "invalid login or token");
      if (f["username"] !== f["login"])
        return text(403, `user ${f["login"]} cannot push to ${f["username"]}`);
      const up = this.uploads.get(m[1]!);
      if (!up) return text(404, "descriptor not found");
      if (f["check"] === "true") return text(200, "ok");
      if (up.chunks.some((c) => c === undefined)) return text(400, "image not fully uploaded");
      const name = `${f["username"]}/${f["repository"]}:${f["tag"]}`;
      this.tags.set(name, m[1]!);
      return json(200, { tag: name });
    }
    if (method === "POST" && path === "/auth/pat/login") {
      const users = this.#options.users ?? {};
      const ok =
        typeof rec.fields["username"] === "string" &&
        users[rec.fields["username"]] === rec.fields["password"];
      return ok ? text(200, "ok") : text(401, "invalid credentials");
    }
    return text(404, "no such endpoint");
  }

  #misbehave(fault: GolemFault, req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): void {
    switch (fault.kind) {
      case "stall":
        return;
      case "stall-body":
        res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
        res.write(" ".repeat(fault.after));
        return;
      case "trickle": {
        res.writeHead(200, { "content-type": "application/json", "content-length": "100000" });
        const t = setInterval(() => {
          if (res.destroyed) {
            clearInterval(t);
            this.#timers.delete(t);
            return;
          }
          res.write(" ");
        }, fault.intervalMs);
        this.#timers.add(t);
        res.on("close", () => clearInterval(t));
        return;
      }
      case "echo": {
        const echoed = JSON.stringify({ fields: rec.fields, authorization: req.headers.authorization ?? "" });
        res.writeHead(fault.status ?? 500, {
          "content-type": "application/json",
          "x-echo": Buffer.from(echoed).toString("latin1"),
        });
        res.end(
          `you sent ${echoed}; token ${rec.fields["token"] ?? ""}; password ${rec.fields["password"] ?? ""}`,
        );
        return;
      }
      case "redirect":
        res.writeHead(307, { location: `${fault.to}${req.url ?? "/"}` }).end();
        return;
      case "pause":
        return;
    }
  }

  #storeDescriptor(bytes: Buffer): string {
    if (bytes.length < 52 || bytes.readBigUInt64BE(0) !== 0x333333334n)
      throw new Error("bad descriptor header");
    const size = Number(bytes.readBigUInt64BE(8));
    const chunkSize = Number(bytes.readBigUInt64BE(16));
    const n = Math.ceil(size / chunkSize);
    if (bytes.length !== 52 + 32 * n) throw new Error("bad descriptor length");
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (!this.uploads.has(sha)) {
      const chunkHashes = Array.from({ length: n }, (_, i) =>
        bytes.subarray(52 + 32 * i, 84 + 32 * i).toString("hex"),
      );
      this.uploads.set(sha, {
        size,
        chunkSize,
        chunkHashes,
        chunks: new Array<Buffer | undefined>(n).fill(undefined),
      });
    }
    return sha;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
