import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { CliReporter, formatDuration, progressLine } from "../../src/cli/reporter.js";

function capture(tty: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream: PassThrough & { isTTY?: boolean } = new PassThrough();
  if (tty) stream.isTTY = true;
  let out = "";
  stream.on("data", (c: Buffer) => (out += c.toString()));
  return { stream, text: () => out };
}

test("a progress line with a known total shows bar, bytes, rate and ETA", () => {
  const line = progressLine(50 * 2 ** 20, 100 * 2 ** 20, 10);
  assert.match(line, /^\[#{12}\.{12}\] 50% 50\.0 MiB\/100\.0 MiB 5\.0 MiB\/s ETA 10s$/);
});

test("a progress line with an unknown total shows bytes and rate only", () => {
  assert.equal(progressLine(3 * 2 ** 20, undefined, 2), "3.0 MiB 1.5 MiB/s");
  assert.equal(progressLine(0, undefined, 0), "0 B");
});

test("durations read as people write them", () => {
  assert.equal(formatDuration(9.4), "9s");
  assert.equal(formatDuration(125), "2m05s");
  assert.equal(formatDuration(7260), "2h01m");
});

test("off a terminal there are no bars or escape codes, only plain lines", () => {
  const { stream, text } = capture(false);
  const reporter = CliReporter.forStream(stream, {}, false);
  const task = reporter.task("upload", 1000);
  task.advance(500);
  task.done();
  reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "odd" });
  assert.equal(text(), "gvmconv: upload…\ngvmconv: warning [W_TAR_UNKNOWN_TYPE]: odd\n");
});

test("on a terminal the bar is drawn and cleared; NO_COLOR keeps warnings uncoloured", () => {
  const { stream, text } = capture(true);
  const reporter = CliReporter.forStream(stream, { NO_COLOR: "1" }, false);
  const task = reporter.task("upload", 1000);
  task.done();
  reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "odd" });
  assert.ok(text().includes("\r\u001b[Kupload ["), "bar drawn after clearing the line");
  assert.ok(text().endsWith("gvmconv: warning [W_TAR_UNKNOWN_TYPE]: odd\n"));
});

test("quiet mode prints warnings but no progress or info", () => {
  const { stream, text } = capture(true);
  const reporter = CliReporter.forStream(stream, {}, true);
  reporter.task("upload", 10).done();
  reporter.info("hello");
  reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "odd" });
  assert.match(text(), /^gvmconv: .*warning.* \[W_TAR_UNKNOWN_TYPE\]: odd\n$/);
});
