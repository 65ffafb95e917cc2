/**
 * A real S3-compatible server on 127.0.0.1 that checks SigV4 signatures: moto's server mode
 * (`moto_server`, moto 5 from the machine's Python) with IAM authentication on. moto recomputes
 * each request's signature with botocore's own SigV4 signer and answers SignatureDoesNotMatch
 * when it differs, and keeps real multipart state (parts, ETags as MD5s, ListParts).
 *
 * Why moto: Debian has no S3 server package (no minio, garage, seaweedfs or versitygw), and
 * s3rver (npm) is unmaintained since 2021. INITIAL_NO_AUTH_ACTION_COUNT lets the first three
 * requests through unauthenticated: they create the user, its access key and its policy; every
 * request after them is authenticated and authorized.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import aws4 from "aws4";
import { request } from "undici";
import { freePort } from "../oci/helpers.js";

export interface RunningS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A signed request to the server (for the test's own checks: create a bucket, read back). */
  signed(method: string, path: string, body?: Buffer): Promise<{ status: number; body: Buffer }>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<RunningS3> {
  const port = await freePort();
  const child: ChildProcess = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: "3", AWS_DEFAULT_REGION: "us-east-1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  let exited = false;
  child.on("exit", () => (exited = true));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`moto_server exited: ${stderr}`);
    try {
      // Not an action: moto's own dashboard path does not count against the unauthenticated three.
      const res = await request(`http://${host}/moto-api/`);
      await res.body.dump();
      break;
    } catch {
      if (i > 300) throw new Error(`moto_server did not start: ${stderr}`);
      await sleep(100);
    }
  }
  const iam = async (params: Record<string, string>): Promise<string> => {
    const body = new URLSearchParams({ ...params, Version: "2010-05-08" }).toString();
    const signed = aws4.sign(
      {
        host,
        method: "POST",
        path: "/",
        service: "iam",
        region: "us-east-1",
        body,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      },
      { accessKeyId: "AKIASETUP", secretAccessKey: "setup" },
    );
    const res = await request(`http://${host}/`, {
      method: "POST",
      headers: signed.headers as Record<string, string>,
      body,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`IAM ${params["Action"]}: ${res.statusCode} ${text}`);
    return text;
  };
  await iam({ Action: "CreateUser", UserName: "gvmconv" });
  const key = await iam({ Action: "CreateAccessKey", UserName: "gvmconv" });
  const accessKeyId = /<AccessKeyId>([^<]+)</.exec(key)?.[1] ?? "";
  const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(key)?.[1] ?? "";
  await iam({
    Action: "PutUserPolicy",
    UserName: "gvmconv",
    PolicyName: "s3",
    PolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
    }),
  });
  return {
    endpoint: `http://${host}`,
    accessKeyId,
    secretAccessKey,
    async signed(method, path, body) {
      const signed = aws4.sign(
        { host, method, path, service: "s3", region: "us-east-1", ...(body ? { body } : {}), headers: {} },
        { accessKeyId, secretAccessKey },
      );
      const res = await request(`http://${host}${path}`, {
        method: method as "GET",
        headers: signed.headers as Record<string, string>,
        ...(body ? { body } : {}),
      });
      return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    },
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
    },
  };
}
