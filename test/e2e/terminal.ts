/**
 * Helpers of the progress tests (not a test file): the CLI run under a real pseudo-terminal
 * (`script` from util-linux, at a chosen width), what it printed replayed through a terminal
 * emulator (@xterm/headless, xterm.js without a DOM) frame by frame, and a TCP relay on loopback
 * that trickles a registry's answers so that a pull lasts long enough to watch.
 */
import { spawn } from "node:child_process";
import { createServer, connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import xterm from "@xterm/headless";

const { Terminal } = xterm;

export interface PtyRun {
  code: number | null;
  /** Everything the terminal received (stdout and stderr share it), `\n` as the pty's `\r\n`. */
  output: string;
}

/** Single-quoted for sh. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `argv` run under `script` with the terminal `cols` wide. `interrupt(output)` is asked after
 * each chunk of output; once it says yes, a Ctrl-C (0x03) is typed into the terminal, so the
 * kernel's line discipline sends SIGINT to the program, as a user's key press would.
 */
export async function runInPty(
  argv: string[],
  opts: { cols: number; env: NodeJS.ProcessEnv; interrupt?: (output: string) => boolean; timeoutMs?: number },
): Promise<PtyRun> {
  const command = `stty cols ${opts.cols} rows 24; exec ${argv.map(q).join(" ")}`;
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    env: opts.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  let interrupted = false;
  child.stdout.on("data", (b: Buffer) => {
    output += b.toString("utf8");
    if (!interrupted && opts.interrupt?.(output) === true) {
      interrupted = true;
      child.stdin.write("\x03");
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  child.stdin.destroy();
  return { code, output };
}

export interface Screen {
  /**
   * Every line of the buffer, scrollback first, right-trimmed, as written: a line the terminal
   * soft-wrapped (wider than it) is one entry here, longer than the width.
   */
  lines: string[];
  cursorX: number;
}

function screenOf(term: InstanceType<typeof Terminal>): Screen {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    if (line === undefined) continue;
    // A continuation: the previous row ran into the last column and went on here.
    if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += line.translateToString(true);
    else lines.push(line.translateToString(true));
  }
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return { lines, cursorX: buffer.cursorX };
}

/**
 * Replays `output` into a `cols`-wide terminal and returns the screen after every frame
 * log-update drew (it brackets each in synchronized-output marks, `ESC[?2026l` closing one) and
 * the final screen.
 */
export async function replay(output: string, cols: number): Promise<{ frames: Screen[]; final: Screen }> {
  // convertEol: a pty turns \n into \r\n (onlcr); a stream standing in for a terminal does not.
  const term = new Terminal({ cols, rows: 24, scrollback: 1000, allowProposedApi: true, convertEol: true });
  const write = (data: string): Promise<void> => new Promise((resolve) => term.write(data, resolve));
  const frames: Screen[] = [];
  const END = "\x1b[?2026l";
  let rest = output;
  for (let at = rest.indexOf(END); at >= 0; at = rest.indexOf(END)) {
    await write(rest.slice(0, at + END.length));
    rest = rest.slice(at + END.length);
    frames.push(screenOf(term));
  }
  await write(rest);
  const final = screenOf(term);
  term.dispose();
  return { frames, final };
}

export interface Relay {
  port: number;
  host: string;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 (on `port`, or any free one) to `targetPort`, passing answers on at
 * `bytesPerSecond` shared by all connections (Infinity: as they come).
 */
export async function startRelay(targetPort: number, bytesPerSecond: number, port = 0): Promise<Relay> {
  const sockets = new Set<Socket>();
  /** When the shared link is next free, ms since the epoch. */
  let free = Date.now();
  const server = createServer((client) => {
    const up = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(up);
    client.on("close", () => sockets.delete(client));
    up.on("close", () => sockets.delete(up));
    client.on("error", () => up.destroy());
    up.on("error", () => client.destroy());
    client.pipe(up);
    let lastWrite = 0;
    up.on("data", (chunk: Buffer) => {
      if (!Number.isFinite(bytesPerSecond)) {
        client.write(chunk);
        return;
      }
      const now = Date.now();
      free = Math.max(free, now) + (chunk.length / bytesPerSecond) * 1000;
      lastWrite = free;
      up.pause();
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
        up.resume();
      }, free - now);
    });
    up.on("end", () => setTimeout(() => client.end(), Math.max(0, lastWrite - Date.now()) + 5));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    host: `127.0.0.1:${bound}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
