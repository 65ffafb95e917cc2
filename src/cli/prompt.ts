/**
 * Questions on the terminal, answers from standard input: shared by `gvmconv login` (user and
 * token) and `gvmconv SOURCE --creds USER` (the registry password). On a terminal the question goes
 * to standard error and a secret is read with echo off; piped, standard input gives the lines.
 */
import type { BaseContext } from "clipanion";
import type { Readable, Writable } from "node:stream";

import { UsageError } from "../errors.js";

type Stdin = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };

export function isTerminal(stdin: Readable): boolean {
  const s = stdin as Stdin;
  return s.isTTY === true && typeof s.setRawMode === "function";
}

/**
 * Lines from the context's stdin, one `next()` at a time; what a chunk holds beyond a line is kept
 * for the next call, so a pipe giving `user\ntoken\n` in one chunk yields both. On a terminal the
 * question is shown (on stderr) and, for a secret, echo is off (raw mode) so the token never shows.
 */
export class StdinLines {
  readonly #stdin: Stdin;
  readonly #stderr: Writable;
  readonly #tty: boolean;
  #buffer = "";
  #ended = false;

  constructor(context: BaseContext) {
    this.#stdin = context.stdin as Stdin;
    this.#stderr = context.stderr as Writable;
    this.#tty = isTerminal(this.#stdin);
  }

  async next(question: string, secret: boolean): Promise<string> {
    const raw = this.#tty && secret;
    // Echo goes off before the question shows, so nothing typed after it is ever echoed.
    if (raw) this.#stdin.setRawMode!(true);
    if (this.#tty) this.#stderr.write(question);
    try {
      return (await this.#line(raw)).trim();
    } finally {
      if (raw) {
        this.#stdin.setRawMode!(false);
        this.#stderr.write("\n");
      }
    }
  }

  /** Everything left on stdin, up to its end. */
  async rest(): Promise<string> {
    while (!this.#ended) await this.#read();
    const all = this.#buffer;
    this.#buffer = "";
    return all;
  }

  async #line(raw: boolean): Promise<string> {
    let line = "";
    for (;;) {
      while (this.#buffer.length > 0) {
        const ch = this.#buffer[0]!;
        this.#buffer = this.#buffer.slice(1);
        if (ch === "\n" || ch === "\r") {
          // A CRLF pair ends one line, not two.
          if (ch === "\r" && this.#buffer[0] === "\n") this.#buffer = this.#buffer.slice(1);
          return line;
        }
        if (raw && ch === "\u0003") throw new UsageError("cancelled");
        if (raw && (ch === "\u007f" || ch === "\b")) line = line.slice(0, -1);
        else line += ch;
      }
      if (this.#ended) return line;
      await this.#read();
    }
  }

  /** One chunk (or the end) from stdin into the buffer. */
  #read(): Promise<void> {
    const stdin = this.#stdin;
    return new Promise((resolve, reject) => {
      const done = (): void => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        stdin.off("error", onError);
        stdin.pause();
      };
      const onData = (chunk: Buffer | string): void => {
        done();
        this.#buffer += chunk.toString();
        resolve();
      };
      const onEnd = (): void => {
        done();
        this.#ended = true;
        resolve();
      };
      const onError = (err: Error): void => {
        done();
        reject(err);
      };
      if (stdin.readableEnded) return onEnd();
      stdin.on("data", onData);
      stdin.once("end", onEnd);
      stdin.once("error", onError);
      stdin.resume();
    });
  }
}
