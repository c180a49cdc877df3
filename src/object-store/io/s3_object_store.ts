/**
 * An object store in an S3-compatible bucket (`s3://bucket/prefix`), through the AWS SDK's S3 client:
 * AWS S3, MinIO, Ceph, R2 and the like (an endpoint URL and path-style addressing for those that need
 * them). Credentials come from the SDK's usual chain (`AWS_ACCESS_KEY_ID` and
 * `AWS_SECRET_ACCESS_KEY`, a profile, an instance role). A put is one PutObject: S3 makes an object
 * visible whole or not at all. Requests are bounded in time, so an unreachable store fails an
 * operation instead of holding it.
 */

import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { KeelError } from "../../core/index.js";
import { validObjectKey, type ObjectStore } from "../index.js";

export interface S3Settings {
  readonly bucket: string;
  /** Keys are stored under this prefix ("" for the bucket's root). */
  readonly prefix: string;
  /** An endpoint other than AWS's (MinIO, Ceph, R2, a test server). */
  readonly endpoint?: string;
  readonly region?: string;
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key` (MinIO and most self-hosted stores). */
  readonly pathStyle?: boolean;
}

const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 60_000;
const ATTEMPTS_MAX = 3;

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;

  constructor(private readonly settings: S3Settings) {
    this.description = `s3://${settings.bucket}/${settings.prefix}`;
    this.client = new S3Client({
      region: settings.region ?? process.env["AWS_REGION"] ?? "us-east-1",
      forcePathStyle: settings.pathStyle ?? false,
      maxAttempts: ATTEMPTS_MAX,
      // Checksums only where S3 requires them: many S3-compatible stores refuse or mishandle the
      // SDK's newer default of a checksum on every request.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    });
  }

  async put(key: string, parts: readonly Uint8Array[]): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: this.keyOf(key),
        Body: Buffer.concat(parts),
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.keyOf(key) }),
      );
      return object.Body === undefined
        ? new Uint8Array(0)
        : await object.Body.transformToByteArray();
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const base = this.settings.prefix === "" ? "" : `${this.settings.prefix}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.settings.bucket,
          Prefix: `${base}${prefix}`,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) keys.push(object.Key.slice(base.length));
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.keyOf(key) }),
    );
  }

  close(): void {
    this.client.destroy();
  }

  /** The object's key in the bucket. */
  private keyOf(key: string): string {
    if (!validObjectKey(key)) {
      throw new KeelError("bad_request", `'${key}' is not an object key`);
    }
    return this.settings.prefix === "" ? key : `${this.settings.prefix}/${key}`;
  }
}
