/**
 * A hostile image registry on 127.0.0.1, for tests (not a test file). It sits in front of a real
 * `docker-registry` (test/oci/helpers.ts `startRegistry`) and serves the happy parts from it, so
 * manifests, blobs and Range requests are the real server's; it adds what the real server never
 * does, one fault per matching request:
 *
 *   stall          accept the connection, read the request, send nothing
 *   stall-body     send the headers and the first `after` bytes, then nothing (socket kept open)
 *   trickle        send the headers, then one byte every `intervalMs`
 *   truncate       declare the full Content-Length, send `after` bytes, close the connection
 *   wrong-digest   the whole body with one byte flipped
 *   redirect       307 to the "blob storage" server (another origin, another port) that serves the
 *                  bytes; it records the Authorization it received (must be none)
 *   redirect-loop  302 from the registry to the storage and back, forever
 *   echo           answer `status` with an error envelope and headers that echo what the client
 *                  sent: its Authorization header, the decoded Basic credentials, the password,
 *                  the bearer token (on the token endpoint: what the token server was sent)
 *   echo-range     206 with a Content-Range that echoes the Authorization header
 *   pause          like stall-body (`after` -1: before the headers), and tell the test: `paused()`
 *                  resolves when a request reaches this point, `release()` lets it finish
 *
 * With `auth`, it speaks the token flow (distribution auth/token.md) itself: `/v2/…` without a
 * valid bearer token gets 401 and a Bearer challenge whose realm is its own `/token`, which checks
 * Basic credentials and issues `token`. The backing registry is asked without credentials.
 */
import { randomBytes } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FaultMode =
  | { kind: "stall" }
  | { kind: "stall-body"; after: number }
  | { kind: "trickle"; intervalMs: number }
  | { kind: "truncate"; after: number }
  | { kind: "wrong-digest" }
  | { kind: "redirect" }
  | { kind: "redirect-loop" }
  | { kind: "echo"; status?: number }
  | { kind: "echo-range" }
  | { kind: "pause"; after: number };

/** Which requests a fault applies to. */
export type FaultTarget = "ping" | "token" | "manifest" | "blob" | { digest: string };

export interface FaultRule {
  on: FaultTarget;
  mode: FaultMode;
  /** Apply to this many matching requests, then pass them through (default: all). */
  times?: number;
}

export interface LoggedRequest {
  server: "registry" | "storage";
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
  /** The fault applied, if any. */
  fault: FaultMode["kind"] | undefined;
}

export interface HostileRegistryOptions {
  /** Port of the real registry the happy parts come from. */
  backendPort: number;
  /** Require a bearer token, issued by our own token endpoint for these Basic credentials. */
  auth?: { username: string; password: string };
}

interface ActiveRule extends FaultRule {
  used: number;
}

export class HostileRegistry {
  readonly log: LoggedRequest[] = [];
  /** The bearer token the token endpoint issues (random per instance). */
  readonly token = `tok-${randomBytes(12).toString("hex")}`;
  host = "";
  port = 0;
  storagePort = 0;
  readonly #options: HostileRegistryOptions;
  readonly #rules: ActiveRule[] = [];
  readonly #registry: Server;
  readonly #storage: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #pauseWaiters: ((r: LoggedRequest) => void)[] = [];
  #pausedRequests: LoggedRequest[] = [];
  #releases: (() => void)[] = [];

  constructor(options: HostileRegistryOptions) {
    this.#options = options;
    this.#registry = createServer((req, res) => this.#onRegistry(req, res));
    this.#storage = createServer((req, res) => this.#onStorage(req, res));
    for (const s of [this.#registry, this.#storage]) {
      s.on("connection", (sock) => {
        this.#sockets.add(sock);
        sock.on("close", () => this.#sockets.delete(sock));
      });
    }
  }

  async start(): Promise<this> {
    const listen = (s: Server): Promise<number> =>
      new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)));
    this.port = await listen(this.#registry);
    this.storagePort = await listen(this.#storage);
    this.host = `127.0.0.1:${this.port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.release();
    for (const t of this.#timers) clearInterval(t);
    for (const s of this.#sockets) s.destroy();
    await Promise.all(
      [this.#registry, this.#storage].map((s) => new Promise<void>((r) => s.close(() => r()))),
    );
  }

  /** Add a fault; the first matching rule with uses left applies. */
  fault(rule: FaultRule): this {
    this.#rules.push({ ...rule, used: 0 });
    return this;
  }

  /** Remove every fault, release paused requests and forget the log. */
  reset(): void {
    this.#rules.length = 0;
    this.release();
    this.log.length = 0;
  }

  /** Resolves with the next request (or one already waiting) that reached a `pause` fault. */
  paused(): Promise<LoggedRequest> {
    const waiting = this.#pausedRequests.shift();
    if (waiting !== undefined) return Promise.resolve(waiting);
    return new Promise((resolve) => this.#pauseWaiters.push(resolve));
  }

  /** Let every paused request finish. */
  release(): void {
    const r = this.#releases;
    this.#releases = [];
    this.#pausedRequests = [];
    for (const f of r) f();
  }

  /** Requests the storage server got (after a redirect), with the Authorization each carried. */
  storageRequests(): LoggedRequest[] {
    return this.log.filter((l) => l.server === "storage");
  }

  // ---- the two servers ----------------------------------------------------------------------

  #onRegistry(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const entry = this.#record("registry", req);
    if (url.startsWith("/token")) {
      this.#onToken(req, res, entry);
      return;
    }
    const auth = this.#options.auth;
    if (auth !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      const repo = /^\/v2\/(.+?)\/(?:manifests|blobs)\//.exec(url)?.[1] ?? "";
      res.writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": `Bearer realm="http://${this.host}/token",service="hostile",scope="repository:${repo}:pull"`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const rule = this.#match(url);
    entry.fault = rule?.mode.kind;
    if (rule === undefined) {
      this.#forward(req, res);
      return;
    }
    this.#apply(rule.mode, req, res, entry);
  }

  #onToken(req: IncomingMessage, res: ServerResponse, entry: LoggedRequest): void {
    const rule = this.#match(req.url ?? "/", "token");
    entry.fault = rule?.mode.kind;
    if (rule !== undefined) {
      this.#apply(rule.mode, req, res, entry);
      return;
    }
    const auth = this.#options.auth;
    const expected =
      auth !== undefined
        ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`
        : undefined;
    if (expected !== undefined && req.headers.authorization !== expected) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: this.token, expires_in: 300 }));
  }

  /** Blob storage: another origin. It serves blob bytes from the backend, or bounces a loop back. */
  #onStorage(req: IncomingMessage, res: ServerResponse): void {
    this.#record("storage", req);
    const url = new URL(req.url ?? "/", "http://x");
    if (url.searchParams.has("loop")) {
      const n = Number(url.searchParams.get("loop")) + 1;
      res.writeHead(302, { location: `http://${this.host}${url.pathname}?loop=${n}` });
      res.end();
      return;
    }
    // The storage has its own access rules: it never needs (nor should get) the registry's token.
    this.#forward(req, res);
  }

  // ---- faults -------------------------------------------------------------------------------

  #match(url: string, only?: "token"): ActiveRule | undefined {
    const kind = url.startsWith("/token")
      ? "token"
      : /\/manifests\//.test(url)
        ? "manifest"
        : /\/blobs\//.test(url)
          ? "blob"
          : "ping";
    if (only !== undefined && kind !== only) return undefined;
    for (const r of this.#rules) {
      if (r.times !== undefined && r.used >= r.times) continue;
      const hit =
        typeof r.on === "string" ? r.on === kind : url.includes(r.on.digest.replace(/^sha256:/, ""));
      if (!hit) continue;
      r.used++;
      return r;
    }
    return undefined;
  }

  #apply(mode: FaultMode, req: IncomingMessage, res: ServerResponse, entry: LoggedRequest): void {
    // Read (and keep) the request body so the client is not stuck writing it.
    req.resume();
    switch (mode.kind) {
      case "stall":
        return;
      case "redirect":
        res.writeHead(307, { location: `http://127.0.0.1:${this.storagePort}${req.url ?? "/"}` });
        res.end();
        return;
      case "redirect-loop": {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        res.writeHead(302, { location: `http://127.0.0.1:${this.storagePort}${path}?loop=0` });
        res.end();
        return;
      }
      case "echo": {
        const echoed = echoOf(req.headers);
        const status = mode.status ?? 400;
        res.writeHead(status, {
          "content-type": "application/json",
          "x-echo-authorization": echoed.authorization,
          "x-echo-credentials": echoed.credentials,
          // Header values only take latin1; the body below carries everything.
          location: `http://127.0.0.1:${this.storagePort}/echo/${encodeURIComponent(echoed.authorization)}`,
        });
        res.end(
          JSON.stringify({
            errors: [
              {
                code: status === 403 ? "DENIED" : "UNSUPPORTED",
                message: `you sent Authorization: ${echoed.authorization}; credentials ${echoed.credentials}; password ${echoed.password}; token ${echoed.token}`,
                detail: echoed,
              },
            ],
          }),
        );
        return;
      }
      case "echo-range":
        res.writeHead(206, {
          "content-type": "application/octet-stream",
          "content-range": `bytes 1-2/${echoOf(req.headers).authorization}`,
        });
        res.end("xx");
        return;
      default:
        this.#bodyFault(mode, req, res, entry);
    }
  }

  /** Faults that need the real response: fetch it whole from the backend, then misbehave. */
  #bodyFault(mode: FaultMode, req: IncomingMessage, res: ServerResponse, entry: LoggedRequest): void {
    this.#fetchBackend(req, (status, headers, body) => {
      if (mode.kind === "pause" && mode.after < 0) {
        this.#pause(entry, () => {
          res.writeHead(status, headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(status, { ...headers, "content-length": String(body.length) });
      switch (mode.kind) {
        case "stall-body":
          res.write(body.subarray(0, mode.after));
          return;
        case "pause":
          res.write(body.subarray(0, mode.after));
          this.#pause(entry, () => res.end(body.subarray(mode.after)));
          return;
        case "truncate":
          // A FIN, not a reset: a reset may discard bytes the client has not read yet, and the
          // test would not know how many arrived.
          res.write(body.subarray(0, mode.after), () => res.socket?.end());
          return;
        case "wrong-digest": {
          const copy = Buffer.from(body);
          const i = copy.length >> 1;
          copy[i] = (copy[i] ?? 0) ^ 0xff;
          res.end(copy);
          return;
        }
        case "trickle": {
          let i = 0;
          const t = setInterval(() => {
            if (i >= body.length || res.destroyed) {
              clearInterval(t);
              this.#timers.delete(t);
              if (!res.destroyed) res.end();
              return;
            }
            res.write(body.subarray(i, i + 1));
            i++;
          }, mode.intervalMs);
          this.#timers.add(t);
          res.on("close", () => {
            clearInterval(t);
            this.#timers.delete(t);
          });
          return;
        }
        default:
          res.end(body);
      }
    });
  }

  #pause(entry: LoggedRequest, resume: () => void): void {
    this.#releases.push(resume);
    const waiter = this.#pauseWaiters.shift();
    if (waiter !== undefined) waiter(entry);
    else this.#pausedRequests.push(entry);
  }

  #record(server: "registry" | "storage", req: IncomingMessage): LoggedRequest {
    const entry: LoggedRequest = {
      server,
      method: req.method ?? "",
      url: req.url ?? "",
      range: req.headers.range,
      authorization: req.headers.authorization,
      fault: undefined,
    };
    this.log.push(entry);
    return entry;
  }

  #backendHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
    const h = { ...headers, host: `127.0.0.1:${this.#options.backendPort}` };
    delete h.authorization;
    return h;
  }

  /** Pass the request through to the real registry. */
  #forward(req: IncomingMessage, res: ServerResponse): void {
    const up = httpRequest(
      {
        host: "127.0.0.1",
        port: this.#options.backendPort,
        method: req.method,
        path: req.url,
        headers: this.#backendHeaders(req.headers),
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  }

  #fetchBackend(
    req: IncomingMessage,
    done: (status: number, headers: IncomingHttpHeaders, body: Buffer) => void,
  ): void {
    const up = httpRequest(
      {
        host: "127.0.0.1",
        port: this.#options.backendPort,
        method: req.method,
        path: req.url,
        headers: this.#backendHeaders(req.headers),
      },
      (ur) => {
        const chunks: Buffer[] = [];
        ur.on("data", (c: Buffer) => chunks.push(c));
        ur.on("end", () => {
          const headers = { ...ur.headers };
          delete headers["content-length"];
          delete headers["transfer-encoding"];
          done(ur.statusCode ?? 502, headers, Buffer.concat(chunks));
        });
      },
    );
    up.on("error", () => done(502, {}, Buffer.alloc(0)));
    up.end();
  }
}

/** What a request carried that must never come back out of gvmconv. */
function echoOf(headers: IncomingHttpHeaders): {
  authorization: string;
  credentials: string;
  password: string;
  token: string;
} {
  const authorization = headers.authorization ?? "";
  const basic = /^Basic (.+)$/i.exec(authorization)?.[1];
  const credentials = basic !== undefined ? Buffer.from(basic, "base64").toString("utf8") : "";
  const password = credentials.includes(":") ? credentials.slice(credentials.indexOf(":") + 1) : "";
  const token = /^Bearer (.+)$/i.exec(authorization)?.[1] ?? "";
  return { authorization, credentials, password, token };
}

/** Start a hostile registry in front of the real one at `backendPort`. */
export async function startHostileRegistry(options: HostileRegistryOptions): Promise<HostileRegistry> {
  return await new HostileRegistry(options).start();
}
