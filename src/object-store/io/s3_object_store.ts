/**
 * An object store in an S3-compatible bucket (`s3://bucket/prefix`), through the AWS SDK's S3 client:
 * AWS S3, MinIO, Ceph, R2 and the like (an endpoint URL and path-style addressing for those that need
 * them). Credentials come from the SDK's usual chain (`AWS_ACCESS_KEY_ID` and
 * `AWS_SECRET_ACCESS_KEY`, a profile, an instance role). A put of up to one part (8 MiB) is one
 * PutObject; a larger one streams as a multipart upload, a part at a time (so memory holds one part,
 * and objects beyond PutObject's 5 GB limit fit), aborted if its source fails. Either way S3 makes
 * the object visible whole or not at all. Requests are bounded in time, so an unreachable store fails an
 * operation instead of holding it.
 */

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { KeelError } from "../../core/index.js";
import { validObjectKey, type ObjectData, type ObjectStore } from "../index.js";

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
/** A multipart upload's part (S3 requires at least 5 MiB for every part but the last). */
const PART_BYTES = 8 * 1024 * 1024;

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

  async put(key: string, data: ObjectData): Promise<void> {
    const target = { Bucket: this.settings.bucket, Key: this.keyOf(key) };
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const uploaded: { ETag: string; PartNumber: number }[] = [];
    const uploadPending = async (): Promise<void> => {
      uploadId ??= (await this.client.send(new CreateMultipartUploadCommand(target))).UploadId;
      const PartNumber = uploaded.length + 1;
      const part = await this.client.send(
        new UploadPartCommand({
          ...target,
          UploadId: uploadId,
          PartNumber,
          Body: Buffer.concat(pending),
        }),
      );
      uploaded.push({ ETag: part.ETag ?? "", PartNumber });
      pending = [];
      pendingBytes = 0;
    };
    try {
      for await (const part of data) {
        pending.push(part);
        pendingBytes += part.length;
        if (pendingBytes >= PART_BYTES) await uploadPending();
      }
      if (uploadId === undefined) {
        await this.client.send(new PutObjectCommand({ ...target, Body: Buffer.concat(pending) }));
        return;
      }
      if (pendingBytes > 0) await uploadPending();
      await this.client.send(
        new CompleteMultipartUploadCommand({
          ...target,
          UploadId: uploadId,
          MultipartUpload: { Parts: uploaded },
        }),
      );
    } catch (error) {
      if (uploadId !== undefined)
        await this.client
          .send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId }))
          .catch(() => undefined);
      throw error;
    }
  }

  async read(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.keyOf(key) }),
      );
      // In Node the body is a readable stream of Buffers.
      return (object.Body as AsyncIterable<Uint8Array> | undefined) ?? emptyData();
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
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

async function* emptyData(): AsyncIterable<Uint8Array> {}
