/**
 * Progress as a user sees it: `gvmconv` pulling a 3-layer image from a real docker-registry on
 * 127.0.0.1 (through a relay that trickles the bytes, so the pull lasts a few seconds), run under
 * a pseudo-terminal (`script`) at 80 and 50 columns; what it printed is replayed through a
 * terminal emulator (@xterm/headless) frame by frame. No line may wrap, no progress line may be
 * left behind on the screen, and the steps (resolving, one line per layer, the download total with
 * its ETA, writing, hashing) must show. Off a terminal, plain lines come every few seconds. A
 * registry that is not up yet is retried, visibly.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  freePort,
  hermeticEnv,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type RunningRegistry,
} from "../oci/helpers.js";
import { imageFromTars, missingTools, noise, packTar, repoRoot, type Member } from "./support.js";
import { replay, runInPty, startRelay, type Relay, type Screen } from "./terminal.js";

const skip = missingTools("docker-registry", "skopeo", "script");
const MAIN = join(repoRoot, "build", "src", "cli", "main.js");
const MiB = 1024 * 1024;

let work: string;
let registry: RunningRegistry;
let relay: Relay;
let source: string;

const mtime = new Date(1_700_000_000_000);
const file = (name: string, body: Buffer): Member => ({
  header: { name, type: "file", mode: 0o644, mtime },
  body,
});
const dir = (name: string): Member => ({
  header: { name: `${name}/`, type: "directory", mode: 0o755, mtime },
});

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-progress-");
  registry = await startRegistry(join(work, "storage"));
  // Bottom first: a base with one large file, then two smaller layers.
  const layers: Member[][] = [
    [dir("opt"), file("opt/base.bin", noise(10 * MiB, "base")), file("etc-release", Buffer.from("base\n"))],
    [dir("srv"), file("srv/middle.bin", noise(4 * MiB, "middle"))],
    [file("top.bin", noise(2 * MiB, "top"))],
  ];
  const image = imageFromTars(await Promise.all(layers.map(packTar)), "gzip");
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "v1", image }]);
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:v1`,
    `docker://${registry.host}/e2e/three:v1`,
  );
  // 16 MiB at 4 MiB/s: about four seconds of download shared by the three layers.
  relay = await startRelay(registry.port, 4 * MiB);
  source = `docker://${relay.host}/e2e/three:v1`;
});

after(async () => {
  if (skip) return;
  await relay.close();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

/** A fresh cache per run, so every run downloads. */
let runs = 0;
function env(): NodeJS.ProcessEnv {
  runs++;
  return hermeticEnv(work, {
    HOME: work,
    XDG_CACHE_HOME: join(work, `cache-${runs}`),
    TERM: "xterm-256color",
  });
}

/** Lines that are progress, not output meant to stay. */
const PROGRESS = /^(resolving | {2}layer \d\/3 |download |writing |hashing )/;

function progressLines(screen: Screen): string[] {
  return screen.lines.filter((l) => PROGRESS.test(l));
}

async function pullInTerminal(cols: number): Promise<{ frames: Screen[]; final: Screen; output: string }> {
  const out = join(work, `tty-${cols}.gvmi`);
  const run = await runInPty([process.execPath, MAIN, source, "-o", out], { cols, env: env() });
  assert.equal(run.code, 0, run.output);
  return { ...(await replay(run.output, cols)), output: run.output };
}

for (const cols of [80, 50]) {
  test(
    `a 3-layer pull at ${cols} columns: no wrapped or stale line, and every step shows`,
    { skip },
    async (t) => {
      const { frames, final, output } = await pullInTerminal(cols);
      assert.ok(frames.length > 5, `frames drawn: ${frames.length}`);
      for (const [i, frame] of frames.entries()) {
        // Info and warning lines may wrap (they are written once); a progress line may not.
        const wide = progressLines(frame).filter((l) => l.length > cols);
        assert.deepEqual(wide, [], `frame ${i} has progress lines wider than ${cols} columns`);
        // Scrollback included: a redraw that left a line behind would show two of one kind.
        const all = progressLines(frame);
        for (const kind of ["download ", "writing ", "hashing (SHA3-224)"]) {
          const n = all.filter((l) => l.startsWith(kind)).length;
          assert.ok(n <= 1, `frame ${i} shows ${n} '${kind}' lines:\n${frame.lines.join("\n")}`);
        }
        for (let layer = 1; layer <= 3; layer++) {
          const n = all.filter((l) => l.startsWith(`  layer ${layer}/3 `)).length;
          assert.ok(n <= 1, `frame ${i} shows layer ${layer} ${n} times:\n${frame.lines.join("\n")}`);
        }
      }
      const seen = frames.flatMap(progressLines);
      assert.ok(
        seen.some((l) => l.startsWith(`resolving ${source}`)),
        "the start is labelled",
      );
      for (let layer = 1; layer <= 3; layer++) {
        assert.ok(
          seen.some((l) => l.startsWith(`  layer ${layer}/3 `)),
          `layer ${layer} has its line`,
        );
      }
      assert.ok(
        frames.some((f) => progressLines(f).filter((l) => l.startsWith("  layer ")).length >= 2),
        "layers in flight at once have a line each",
      );
      // The total line: percentage, bytes of the known total, rate and ETA (at 50 columns the bar
      // gives way to the figures).
      assert.ok(
        seen.some((l) =>
          /^download +(\[[#.]+\] )?\d+% [\d.]+ (B|KiB|MiB)\/1[56]\.\d MiB [\d.]+ \w+\/s ETA \d+s/.test(l),
        ),
        `a download total with ETA:\n${seen.filter((l) => l.startsWith("download")).join("\n")}`,
      );
      assert.ok(
        seen.some((l) => /^writing .*\d+% /.test(l)),
        "writing has a total",
      );
      assert.ok(
        seen.some((l) => l.startsWith("hashing (SHA3-224)")),
        "the hash pass is labelled",
      );
      // The end: the result lines, no progress line anywhere (scrollback included), cursor shown.
      assert.deepEqual(progressLines(final), [], final.lines.join("\n"));
      assert.ok(
        final.lines.some((l) => l.startsWith("wrote: ")),
        final.lines.join("\n"),
      );
      assert.ok(final.lines.some((l) => l.startsWith(" -- image link (for use in SDK): ")));
      assert.ok(
        output.lastIndexOf("\x1b[?25h") > output.lastIndexOf("\x1b[?25l"),
        "the cursor is shown again",
      );
      // For the record: frames as the terminal showed them - the download at its busiest,
      // writing under way, the hash pass.
      const most = Math.max(...frames.map((f) => progressLines(f).length));
      const busy = frames.filter((f) => progressLines(f).length === most && /ETA/.test(f.lines.join("\n")));
      const writing = frames.filter((f) => progressLines(f).some((l) => /^writing +.* [1-9]\d?% /.test(l)));
      const hashing = frames.filter((f) => progressLines(f).some((l) => l.startsWith("hashing (SHA3-224)")));
      const rule = "-".repeat(cols);
      for (const f of [busy[busy.length >> 1], writing[writing.length >> 1], hashing[0]]) {
        if (f !== undefined) t.diagnostic(`\n${rule}\n${f.lines.slice(-8).join("\n")}\n${rule}`);
      }
    },
  );
}

test(
  "Ctrl-C during a pull: exit 130, the cursor shown, the line finished, no output left",
  { skip },
  async () => {
    const out = join(work, "interrupted.gvmi");
    const run = await runInPty([process.execPath, MAIN, source, "-o", out], {
      cols: 80,
      env: env(),
      // Once a layer line is on screen, the pull is under way.
      interrupt: (output) => / {2}layer \d\/3 [0-9a-f]{12} /.test(output),
    });
    assert.equal(run.code, 130, run.output);
    assert.ok(
      run.output.lastIndexOf("\x1b[?25h") > run.output.lastIndexOf("\x1b[?25l"),
      "the cursor is shown again",
    );
    const { final } = await replay(run.output, 80);
    assert.deepEqual(
      progressLines(final).filter((l) => l.length > 80),
      [],
    );
    assert.equal(final.cursorX, 0, `the shell's prompt starts a fresh line:\n${final.lines.join("\n")}`);
    assert.deepEqual(
      (await readdir(work)).filter((n) => n.startsWith("interrupted")),
      [],
      "no partial output beside the target",
    );
  },
);

test("a failure on a terminal: the frame comes off, one error line, the cursor shown", { skip }, async () => {
  const run = await runInPty(
    [process.execPath, MAIN, `docker://${relay.host}/e2e/three:missing`, "-o", join(work, "x.gvmi")],
    {
      cols: 80,
      env: env(),
    },
  );
  assert.equal(run.code, 1, run.output);
  const { final } = await replay(run.output, 80);
  assert.deepEqual(progressLines(final), [], final.lines.join("\n"));
  assert.equal(final.lines.length, 1, final.lines.join("\n"));
  assert.match(final.lines[0] ?? "", /^gvmconv: error \[E_OCI_NOT_FOUND\]: /);
  assert.ok(
    run.output.lastIndexOf("\x1b[?25h") > run.output.lastIndexOf("\x1b[?25l"),
    "the cursor is shown again",
  );
});

/** `gvmconv ARGV` as a child process with pipes (not a terminal); stderr as it arrives. */
function spawnCli(argv: string[], childEnv: NodeJS.ProcessEnv, onStderr?: (text: string) => void) {
  const child = spawn(process.execPath, [MAIN, ...argv], {
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
    onStderr?.(stderr);
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

test("off a terminal: start and end lines, and the figures every few seconds", { skip }, async () => {
  // Slower than the terminal runs (2 MiB/s, ~8 s) so that at least one 5 s line comes.
  const slow = await startRelay(registry.port, 2 * MiB);
  try {
    const out = join(work, "plain.gvmi");
    const { done } = spawnCli([`docker://${slow.host}/e2e/three:v1`, "-o", out], env());
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes("\x1b"), "no escape codes off a terminal");
    const lines = r.stderr.split("\n");
    assert.ok(
      lines.some((l) => /^gvmconv: download… \(16\.\d MiB\)$/.test(l)),
      r.stderr,
    );
    assert.ok(
      lines.some((l) =>
        /^gvmconv: download \d+% [\d.]+ \w+\/16\.\d MiB [\d.]+ \w+\/s ETA \d+s( \(\d in flight\))?$/.test(l),
      ),
      `a periodic download line:\n${r.stderr}`,
    );
    for (let layer = 1; layer <= 3; layer++) {
      assert.ok(
        lines.some((l) => new RegExp(`^gvmconv: layer ${layer}/3 [0-9a-f]{12}: done, `).test(l)),
        r.stderr,
      );
    }
    assert.ok(
      lines.some((l) => /^gvmconv: download: done, 16\.\d MiB in \d+s$/.test(l)),
      r.stderr,
    );
    assert.ok(
      lines.some((l) => /^gvmconv: writing: done, 16\.\d MiB in \d+s$/.test(l)),
      r.stderr,
    );
    assert.ok(lines.includes("gvmconv: hashing (SHA3-224)… (16.0 MiB)"), r.stderr);
  } finally {
    await slow.close();
  }
});

test("a registry that is not up yet: each retry is shown, then the pull succeeds", { skip }, async () => {
  const port = await freePort();
  let late: Relay | undefined;
  let starting: Promise<Relay> | undefined;
  const out = join(work, "retried.gvmi");
  const { done } = spawnCli([`docker://127.0.0.1:${port}/e2e/three:v1`, "-o", out], env(), (stderr) => {
    // The registry comes up on that port once the first retry has been announced.
    if (starting === undefined && stderr.includes("retrying 1/5"))
      starting = startRelay(registry.port, Infinity, port);
  });
  try {
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^gvmconv: retrying 1/5 in [\\d.]+ s: connection refused \\(127\\.0\\.0\\.1:${port}\\)$`,
        "m",
      ),
    );
    assert.match(r.stdout, /^wrote: /m);
  } finally {
    late = await starting;
    await late?.close();
  }
});
