import { test } from "node:test";
import assert from "node:assert/strict";
import { buildContainerConfig, serializeContainerConfig } from "../../src/gvmi/container-config.js";
import { GvmiConfigError, GvmiImageIdError, GvmiUserResolutionError } from "../../src/gvmi/errors.js";
import { CollectingReporter } from "../../src/reporter.js";

const imageId = "sha256:" + "ab".repeat(32);

test("image config fields land in Docker's key order, Hostname and User left out", () => {
  const reporter = new CollectingReporter();
  const cfg = buildContainerConfig({
    imageId,
    reporter,
    config: {
      User: "",
      Env: ["PATH=/usr/bin", "A=1"],
      Cmd: ["run"],
      Entrypoint: ["/entry"],
      WorkingDir: "/app",
      Volumes: { "/golem/work": {} },
      ExposedPorts: { "80/tcp": {} },
      Labels: { a: "b" },
      StopSignal: "SIGTERM",
    },
  });
  assert.equal(
    new TextDecoder().decode(serializeContainerConfig(cfg)),
    '{"Domainname":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,' +
      '"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,' +
      '"Env":["PATH=/usr/bin","A=1"],"Cmd":["run"],"Image":"' +
      imageId +
      '","Volumes":{"/golem/work":{}},"WorkingDir":"/app","Entrypoint":["/entry"],' +
      '"Labels":{"a":"b"},"StopSignal":"SIGTERM"}',
  );
  assert.deepEqual(reporter.warnings, []);
});

test("overrides: env replaces by key or appends, entrypoint drops the image CMD, volumes merge", () => {
  const cfg = buildContainerConfig({
    imageId,
    config: { Env: ["A=1", "B=2"], Cmd: ["x"], Entrypoint: ["/old"], Volumes: { "/data": {} } },
    overrides: {
      env: ["B=3", "C=4=5"],
      entrypoint: ["/new", "-v"],
      workdir: "/w",
      volumes: ["/golem/output/", "/data"],
    },
  });
  assert.deepEqual(cfg.Env, ["A=1", "B=3", "C=4=5"]);
  assert.deepEqual(cfg.Entrypoint, ["/new", "-v"]);
  assert.equal(cfg.Cmd, undefined);
  assert.equal(cfg.WorkingDir, "/w");
  assert.deepEqual(cfg.Volumes, { "/data": {}, "/golem/output": {} });
});

test("explicit cmd survives an entrypoint override", () => {
  const cfg = buildContainerConfig({
    imageId,
    config: { Cmd: ["x"] },
    overrides: { entrypoint: ["/e"], cmd: ["y"] },
  });
  assert.deepEqual(cfg.Cmd, ["y"]);
});

test("bad overrides are typed errors", () => {
  assert.throws(() => buildContainerConfig({ imageId, overrides: { env: ["NOVALUE"] } }), GvmiConfigError);
  assert.throws(() => buildContainerConfig({ imageId, overrides: { volumes: ["rel"] } }), GvmiConfigError);
  assert.throws(() => buildContainerConfig({ imageId, overrides: { volumes: ["/"] } }), GvmiConfigError);
  assert.throws(() => buildContainerConfig({ imageId, overrides: { workdir: "x" } }), GvmiConfigError);
  assert.throws(() => buildContainerConfig({ imageId: "abc" }), GvmiImageIdError);
  assert.throws(
    () => buildContainerConfig({ imageId, config: { Env: "A=1" as unknown as string[] } }),
    GvmiConfigError,
  );
});

test("no volume anywhere warns W_GVMI_NO_VOLUMES", () => {
  const reporter = new CollectingReporter();
  const cfg = buildContainerConfig({ imageId, config: null, reporter });
  assert.equal(cfg.Volumes, undefined);
  assert.deepEqual(
    reporter.warnings.map((w) => w.code),
    ["W_GVMI_NO_VOLUMES"],
  );
  const quiet = new CollectingReporter();
  buildContainerConfig({ imageId, overrides: { volumes: ["/golem/work"] }, reporter: quiet });
  assert.deepEqual(quiet.warnings, []);
});

test("USER is dropped by default (with a warning) and resolved to uid:gid with keepUser", () => {
  const reporter = new CollectingReporter();
  const config = { User: "app:staff", Volumes: { "/v": {} } };
  const dropped = buildContainerConfig({ imageId, config, reporter });
  assert.equal("User" in dropped, false);
  assert.deepEqual(
    reporter.warnings.map((w) => w.code),
    ["W_GVMI_USER_DROPPED"],
  );
  const kept = buildContainerConfig({
    imageId,
    config,
    overrides: { keepUser: true },
    userFiles: { passwd: "app:x:1000:1000::/:/bin/sh\n", group: "staff:x:50:\n" },
  });
  assert.equal(kept.User, "1000:50");
  assert.deepEqual(Object.keys(kept).slice(0, 3), ["Domainname", "User", "AttachStdin"]);
  assert.throws(
    () =>
      buildContainerConfig({
        imageId,
        config: { User: "ghost" },
        overrides: { keepUser: true },
        userFiles: {},
      }),
    GvmiUserResolutionError,
  );
});

test("root USER is not worth a warning", () => {
  const reporter = new CollectingReporter();
  buildContainerConfig({ imageId, config: { User: "root", Volumes: { "/v": {} } }, reporter });
  assert.deepEqual(reporter.warnings, []);
});

test("mistyped Healthcheck fields are dropped, well-typed ones kept", () => {
  const cfg = buildContainerConfig({
    imageId,
    config: { Volumes: { "/v": {} }, Healthcheck: { Test: ["CMD", "true"], Interval: "5s", Retries: 3 } },
  });
  assert.deepEqual(cfg.Healthcheck, { Test: ["CMD", "true"], Retries: 3 });
});
