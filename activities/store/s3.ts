import { createWriteStream, createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BaseStore, byKey, tmpSibling } from './base.ts';
import {
  MAX_DELETE_BATCH,
  MAX_PARTS,
  MIN_PART_SIZE,
  MiB,
  bodyOf,
  createS3Client,
  describeS3,
  isConflict,
  isNotFound,
  positiveInt,
  statusOf,
  type S3StoreConfig,
} from './s3-client.ts';
import { uploadObject } from './s3-upload.ts';
import { abortUpload, listIncompleteUploads } from './s3-garbage.ts';
import { GARBAGE_MIN_AGE_MS, type GarbageItem } from './garbage.ts';
import {
  StoreConflictError,
  StoreNotFoundError,
  assertValidKey,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './types.ts';

export type { S3StoreConfig } from './s3-client.ts';

/**
 * ObjectStore on any S3-compatible service. Credentials come only from the AWS SDK's default provider
 * chain (environment, shared config/credentials files and profiles, SSO, container/instance roles), so
 * they never pass through configuration, logs, `describe` or workflow payloads.
 */
export class S3Store extends BaseStore implements ObjectStore {
  readonly describe: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize: number;
  private readonly deleteBatchSize: number;

  constructor(config: S3StoreConfig) {
    super();
    if (!config.bucket) throw new Error('S3Store: bucket is required');
    this.bucket = config.bucket;
    this.prefix = (config.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix) assertValidKey(this.prefix);
    this.partSize = config.partSize ?? 8 * MiB;
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new RangeError(`S3Store: partSize must be an integer >= ${MIN_PART_SIZE} (S3's minimum part size)`);
    }
    this.queueSize = positiveInt('queueSize', config.queueSize ?? 4);
    this.listPageSize = positiveInt('listPageSize', config.listPageSize ?? 1000);
    if (this.listPageSize > 1000) throw new RangeError('S3Store: listPageSize must be <= 1000');
    this.deleteBatchSize = positiveInt('deleteBatchSize', config.deleteBatchSize ?? MAX_DELETE_BATCH);
    if (this.deleteBatchSize > MAX_DELETE_BATCH)
      throw new RangeError(`S3Store: deleteBatchSize must be <= ${MAX_DELETE_BATCH}`);

    this.client = createS3Client(config);
    this.describe = describeS3(this.bucket, this.prefix, config.endpoint);
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    if (!this.prefix) return key;
    const full = `${this.prefix}/${key}`;
    assertValidKey(full); // S3's length limit counts the prefix too
    return full;
  }

  /** Multipart uploads under this store's prefix never completed nor aborted (see s3-garbage.ts). */
  async garbage(): Promise<GarbageItem[]> {
    return listIncompleteUploads(this.client, this.bucket, this.prefix);
  }

  /** Aborts those of `items` without a new part for `minAgeMs`, checking each again first; returns what was aborted. */
  async removeGarbage(items: GarbageItem[], minAgeMs = GARBAGE_MIN_AGE_MS): Promise<GarbageItem[]> {
    const cutoff = Date.now() - minAgeMs;
    const fresh = new Map((await this.garbage()).map((g) => [g.uploadId, g]));
    const removed: GarbageItem[] = [];
    for (const item of items) {
      const now = item.uploadId ? fresh.get(item.uploadId) : undefined;
      if (!now || Date.parse(now.modified) >= cutoff) continue;
      // The raw key: an upload some other tool started under the prefix need not be a valid store key.
      const objectKey = this.prefix ? `${this.prefix}/${now.key}` : now.key;
      if (await abortUpload(this.client, this.bucket, objectKey, now.uploadId!)) removed.push(now);
    }
    return removed;
  }

  async put(key: string, body: Uint8Array | string | Readable, opts: PutOptions = {}): Promise<PutResult> {
    let objectKey: string;
    try {
      objectKey = this.objectKey(key);
    } catch (err) {
      // The stream was handed over to be consumed; left open it would pin its file descriptor or socket.
      if (body instanceof Readable) body.destroy();
      throw err;
    }
    const source: AsyncIterable<unknown> | Iterable<unknown> =
      body instanceof Readable ? body : [typeof body === 'string' ? Buffer.from(body) : body];
    return this.upload(key, objectKey, source, this.partSize, opts);
  }

  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<PutResult> {
    const objectKey = this.objectKey(key);
    const { size } = await stat(path);
    // Whole MiB parts just large enough to stay under S3's part count for this file.
    const needed = Math.ceil(size / (MAX_PARTS * MiB)) * MiB;
    return this.upload(
      key,
      objectKey,
      createReadStream(path, { highWaterMark: MiB }),
      Math.max(this.partSize, needed),
      opts,
    );
  }

  /** See uploadObject; a lost If-None-Match race surfaces as StoreConflictError. */
  private async upload(
    key: string,
    objectKey: string,
    source: AsyncIterable<unknown> | Iterable<unknown>,
    partSize: number,
    opts: PutOptions,
  ): Promise<PutResult> {
    const target = { client: this.client, bucket: this.bucket, objectKey, partSize, queueSize: this.queueSize };
    try {
      return { key, ...(await uploadObject(target, source, opts)) };
    } catch (err) {
      if (opts.ifNoneMatch && isConflict(err)) throw new StoreConflictError(key, this.describe);
      throw err;
    }
  }

  private async getObject(key: string, range?: { start: number; end?: number }): Promise<GetObjectCommandOutput> {
    const Range = range ? `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}` : undefined;
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range }));
    } catch (err) {
      throw this.mapNotFound(err, key);
    }
  }

  async get(key: string): Promise<Buffer> {
    const out = await this.getObject(key);
    const bytes = await bodyOf(out, key).transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async getStream(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    if (range) {
      if (
        !Number.isInteger(range.start) ||
        range.start < 0 ||
        (range.end !== undefined && !Number.isInteger(range.end))
      ) {
        throw new RangeError(`invalid byte range ${JSON.stringify(range)} for ${key}`);
      }
      if (range.end !== undefined && range.end <= range.start) {
        if (!(await this.exists(key))) throw new StoreNotFoundError(key, this.describe);
        return Readable.from([]);
      }
    }
    try {
      return bodyOf(await this.getObject(key, range), key);
    } catch (err) {
      // A range starting at or past the end is empty, as reading a file past its end is.
      if (range && statusOf(err) === 416) return Readable.from([]);
      throw err;
    }
  }

  async getFile(key: string, path: string): Promise<void> {
    const out = await this.getObject(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = tmpSibling(path);
    let received = 0;
    try {
      await pipeline(
        bodyOf(out, key),
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            received += chunk.length;
            cb(null, chunk);
          },
        }),
        createWriteStream(tmp),
      );
      // A connection cut between chunks can end the body cleanly from the stream's point of view.
      if (out.ContentLength !== undefined && received !== out.ContentLength) {
        throw new Error(`${key}: received ${received} of ${out.ContentLength} bytes from ${this.describe}`);
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { key, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const root = this.prefix ? `${this.prefix}/` : '';
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: root + prefix,
          ContinuationToken: token,
          MaxKeys: this.listPageSize,
        }),
      );
      for (const o of page.Contents ?? []) {
        // Keys ending in '/' are folder placeholders some tools create; they are not store objects.
        if (!o.Key || !o.Key.startsWith(root) || o.Key.endsWith('/')) continue;
        out.push({ key: o.Key.slice(root.length), size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token)
        throw new Error(`${this.describe}: truncated listing without a continuation token`);
    } while (token);
    // S3 orders by UTF-8 bytes, LocalStore by UTF-16 code units; they differ above U+FFFF, and callers
    // rely on one order whichever store is configured.
    return out.sort(byKey);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objs = await this.list(prefix);
    // Listing completes before deleting: mutating a bucket while paginating it is not safe on every server.
    for (let i = 0; i < objs.length; i += this.deleteBatchSize) {
      const batch = objs.slice(i, i + this.deleteBatchSize);
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((o) => ({ Key: this.objectKey(o.key) })), Quiet: true },
        }),
      );
      const errors = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length > 0) {
        const sample = errors.slice(0, 3).map((e) => `${e.Key}: ${e.Code} ${e.Message ?? ''}`.trim());
        throw new Error(
          `${this.describe}: failed to delete ${errors.length} object(s) under ${prefix}: ${sample.join('; ')}`,
        );
      }
    }
    return objs.length;
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  private mapNotFound(err: unknown, key: string): unknown {
    return isNotFound(err) ? new StoreNotFoundError(key, this.describe) : err;
  }
}
