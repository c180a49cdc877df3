/**
 * A real S3-compatible server for tests (the `s3rver` package: S3's REST API over files), on a free
 * loopback port, with one bucket; its default credentials are S3RVER / S3RVER.
 */

import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

export interface TestS3Server {
  readonly endpoint: string;
  readonly bucket: string;
  /** The environment a client needs for the server's credentials. */
  readonly credentials: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3Server(bucket = "keel"): Promise<TestS3Server> {
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;
  const directory = mkdtempSync(join(tmpdir(), "keel-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentials: { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" },
    async close() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
