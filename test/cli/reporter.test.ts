import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { CliReporter, formatDuration, progressLine } from "../../src/cli/reporter.js";
import { replay } from "../e2e/terminal.js";

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

test("off a terminal: a start line, an end line, no escape codes", async () => {
  const { stream, text } = capture(false);
  const reporter = await CliReporter.forStream(stream, {}, false);
  const task = reporter.task("upload", 1000, { kind: "upload" });
  task.advance(500);
  task.done();
  reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "odd" });
  assert.equal(
    text(),
    "gvmconv: upload… (1000 B)\ngvmconv: upload: done, 500 B in 0s\ngvmconv: warning [W_TAR_UNKNOWN_TYPE]: odd\n",
  );
});

test("off a terminal: layers have end lines only, the download total starts with its first byte", async () => {
  const { stream, text } = capture(false);
  const reporter = await CliReporter.forStream(stream, {}, false);
  const total = reporter.task("download", 3000, { kind: "download" });
  const layer = reporter.task("layer 1/1 0123456789ab", 3000, { kind: "layer" });
  assert.equal(text(), "", "nothing before a byte has come");
  layer.advance(3000);
  total.advance(3000);
  layer.done();
  total.done();
  assert.equal(
    text(),
    "gvmconv: download… (2.9 KiB)\n" +
      "gvmconv: layer 1/1 0123456789ab: done, 2.9 KiB in 0s\n" +
      "gvmconv: download: done, 2.9 KiB in 0s\n",
  );
  // A download of nothing (every layer cached) says nothing at all.
  const cached = capture(false);
  const quiet = await CliReporter.forStream(cached.stream, {}, false);
  quiet.task("download", 0, { kind: "download" }).done();
  assert.equal(cached.text(), "");
});

test("off a terminal: the figures of every step in flight every interval", async () => {
  const { stream, text } = capture(false);
  const reporter = await CliReporter.forStream(stream, {}, false, { intervalMs: 40 });
  const total = reporter.task("download", 4 * 2 ** 20, { kind: "download" });
  const layer = reporter.task("layer 1/1 0123456789ab", 4 * 2 ** 20, { kind: "layer" });
  layer.advance(2 ** 20);
  total.advance(2 ** 20);
  const periodicLines = (): string[] =>
    text()
      .split("\n")
      .filter((l) => l.startsWith("gvmconv: download 25% "));
  // Two intervals, however loaded the machine (a timer may fire late, never early).
  for (const deadline = Date.now() + 5000; periodicLines().length < 2 && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 20));
  layer.done();
  total.done();
  const periodic = periodicLines();
  assert.ok(periodic.length >= 2, text());
  assert.equal(periodic[0], "gvmconv: download 25% 1.0 MiB/4.0 MiB (1 in flight)");
  const after = text().length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(text().length, after, "no line once every task is done");
});

test("a retry reads as a person would say it", async () => {
  const { stream, text } = capture(false);
  const reporter = await CliReporter.forStream(stream, {}, false);
  reporter.retry({
    retry: 2,
    retries: 5,
    delayMs: 2000,
    reason: "connection refused",
    host: "r.example:5000",
  });
  reporter.retry({ retry: 1, retries: 5, delayMs: 480, reason: "HTTP 503" });
  assert.equal(
    text(),
    "gvmconv: retrying 2/5 in 2 s: connection refused (r.example:5000)\ngvmconv: retrying 1/5 in 0.5 s: HTTP 503\n",
  );
});

test("on a terminal: a frame of one line per task, clipped to the width, gone when the tasks are", async () => {
  const { stream, text } = capture(true);
  (stream as PassThrough & { columns?: number }).columns = 40;
  const reporter = await CliReporter.forStream(stream, { NO_COLOR: "1" }, false, { redrawMs: 10 });
  const total = reporter.task("download", 3 * 2 ** 20, { kind: "download" });
  const layers = [1, 2, 3].map((i) =>
    reporter.task(`layer ${i}/3 0123456789ab-and-a-long-tail`, 2 ** 20, { kind: "layer" }),
  );
  layers[0]?.advance(2 ** 19);
  await new Promise((r) => setTimeout(r, 50));
  reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "odd" });
  await new Promise((r) => setTimeout(r, 30));
  const mid = await replay(text(), 40);
  const last = mid.frames[mid.frames.length - 1]!;
  assert.deepEqual(
    last.lines.map((l) => l.replace(/ .*/, "")),
    ["gvmconv:", "", "", "", "download"],
    last.lines.join("\n"),
  );
  assert.ok(last.lines[1]?.startsWith("  layer 1/3 0123456789ab-and-a-lon"), last.lines[1]);
  assert.ok(
    last.lines.slice(1).every((l) => l.length <= 39),
    `progress clipped to one less than the width:\n${last.lines.join("\n")}`,
  );
  // The warning is written once, above the frame, whole (the terminal may wrap it).
  assert.equal(last.lines[0], "gvmconv: warning [W_TAR_UNKNOWN_TYPE]: odd");
  for (const l of layers) l.done();
  total.done();
  const end = await replay(text(), 40);
  assert.deepEqual(end.final.lines, ["gvmconv: warning [W_TAR_UNKNOWN_TYPE]: odd"]);
  assert.equal(end.final.cursorX, 0);
});

test("on a terminal: close() takes an unfinished frame off the screen (before an error line)", async () => {
  const { stream, text } = capture(true);
  const reporter = await CliReporter.forStream(stream, {}, false, { redrawMs: 10 });
  reporter.task("writing", 100, { kind: "write" }).advance(10);
  await new Promise((r) => setTimeout(r, 30));
  assert.match((await replay(text(), 80)).final.lines.join("\n"), /^writing \[/);
  reporter.close();
  stream.write("gvmconv: error [E_X]: it failed\n");
  assert.deepEqual((await replay(text(), 80)).final.lines, ["gvmconv: error [E_X]: it failed"]);
});

test("quiet mode prints warnings but no progress or info", async () => {
  const { stream, text } = capture(true);
  const reporter = await CliReporter.forStream(stream, {}, true);
  reporter.task("upload", 10).done();
  reporter.info("hello");
  reporter.warn({ code: "W_TAR_UNKNOWN_TYPE", message: "odd" });
  assert.match(text(), /^gvmconv: .*warning.* \[W_TAR_UNKNOWN_TYPE\]: odd\n$/);
});

test("TERM=dumb gets the plain lines; a terminal of unknown size (0×0) is drawn at 80×24", async () => {
  const dumb = capture(true);
  const plain = await CliReporter.forStream(dumb.stream, { TERM: "dumb" }, false, { redrawMs: 10 });
  const task = plain.task("writing", 100, { kind: "write" });
  await new Promise((r) => setTimeout(r, 30));
  task.done();
  assert.equal(dumb.text(), "gvmconv: writing…\ngvmconv: writing: done in 0s\n");

  const unsized = capture(true);
  Object.assign(unsized.stream, { columns: 0, rows: 0 });
  const drawn = await CliReporter.forStream(unsized.stream, {}, false, { redrawMs: 10 });
  drawn.task("writing", 100, { kind: "write" }).advance(50);
  await new Promise((r) => setTimeout(r, 30));
  const screen = (await replay(unsized.text(), 80)).final;
  assert.match(screen.lines.join("\n"), /^writing \[#{12}\.{12}\] 50% 50 B\/100 B/);
  drawn.close();
});

test("off a terminal, resolving gets a line only when it takes a while", async () => {
  const quick = capture(false);
  const fast = await CliReporter.forStream(quick.stream, {}, false);
  fast.task("resolving x:1", undefined, { kind: "resolve" }).done();
  assert.equal(quick.text(), "", "a quick resolve (or one that fails at once) prints nothing");
  const long = capture(false);
  const slow = await CliReporter.forStream(long.stream, {}, false);
  const task = slow.task("resolving y:1", undefined, { kind: "resolve" });
  await new Promise((r) => setTimeout(r, 1100));
  task.done();
  assert.match(long.text(), /^gvmconv: resolving y:1…\ngvmconv: resolving y:1: done in 1s\n$/);
});
