/**
 * The S3 publish target against a real S3-compatible server that checks SigV4 (moto; see
 * s3-server.ts): uploads downloaded back and compared, a wrong secret refused, a multipart upload
 * interrupted and resumed with only the missing parts sent.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { uploadToS3 } from "../../src/build/s3.js";
import { tmp } from "../oci/helpers.js";
import { startS3, type RunningS3 } from "./s3-server.js";

let work = "";
let s3: RunningS3;
let env: Record<string, string>;

before(async () => {
  work = await tmp("gvmconv-s3-");
  s3 = await startS3();
  env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const made = await s3.signed("PUT", "/images");
  assert.equal(made.status, 200, made.body.toString());
});
after(async () => {
  await s3.stop();
  await rm(work, { recursive: true, force: true });
});

const noise = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

test("the server checks signatures: a wrong secret is refused with a coded error and no secret shown", async () => {
  const file = join(work, "small.gvmi");
  await writeFile(file, "x");
  await assert.rejects(
    uploadToS3(
      file,
      { endpoint: s3.endpoint, bucket: "images" },
      { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: "wrong-secret" } },
    ),
    (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, "E_BUILD_PUBLISH");
      assert.match(err.message, /SignatureDoesNotMatch/);
      assert.doesNotMatch(err.message + (err.hint ?? ""), /wrong-secret/);
      return true;
    },
  );
});

test("a small file goes up in one PUT (S3_ACCESS/S3_SECRET work too) and comes back byte for byte", async () => {
  const file = join(work, "one.gvmi");
  const bytes = noise(100_000, 1);
  await writeFile(file, bytes);
  const up = await uploadToS3(
    file,
    { endpoint: s3.endpoint, bucket: "images", prefix: "golem/v1" },
    { env: { S3_ACCESS: s3.accessKeyId, S3_SECRET: s3.secretAccessKey } },
  );
  assert.equal(up.key, "golem/v1/one.gvmi");
  assert.equal(up.url, `${s3.endpoint}/images/golem/v1/one.gvmi`);
  const back = await s3.signed("GET", "/images/golem/v1/one.gvmi");
  assert.equal(back.status, 200);
  assert.ok(back.body.equals(bytes));
});

test("a multipart upload interrupted after two parts resumes, sending only the parts missing", async () => {
  const file = join(work, "big.gvmi");
  const partSize = 5 * 1024 * 1024;
  const bytes = noise(partSize * 4 + 12_345, 2);
  await writeFile(file, bytes);
  const spec = { endpoint: s3.endpoint, bucket: "images", prefix: "multi" };
  await assert.rejects(
    uploadToS3(file, spec, {
      env,
      partSize,
      onPart: (n) => {
        if (n === 2) throw new Error("interrupted");
      },
    }),
    /interrupted/,
  );
  assert.ok(existsSync(`${file}.s3-upload.json`), "the upload's state is kept for the resume");
  assert.equal(
    (await s3.signed("GET", "/images/multi/big.gvmi")).status,
    404,
    "nothing is published half-way",
  );

  const resumed = await uploadToS3(file, spec, { env, partSize });
  assert.deepEqual([resumed.partsReused, resumed.partsSent], [2, 3]);
  assert.equal(existsSync(`${file}.s3-upload.json`), false);
  const back = await s3.signed("GET", "/images/multi/big.gvmi");
  assert.equal(back.status, 200);
  assert.ok(back.body.equals(bytes), "the object is the file, byte for byte");
});
