import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import {
  COMMIT_FILE,
  StoreConflictError,
  StoreNotFoundError,
  assertValidKey,
  joinKey,
  type CommitMarker,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './types.ts';

const MiB = 1024 * 1024;
/** S3's floor for every part but the last. */
const MIN_PART_SIZE = 5 * MiB;
/** S3's ceiling on parts per upload. */
const MAX_PARTS = 10_000;
/** DeleteObjects accepts at most this many keys per request. */
const MAX_DELETE_BATCH = 1000;

export interface S3StoreConfig {
  bucket: string;
  /** Key prefix inside the bucket that acts as the store root ('' or omitted: the bucket root). */
  prefix?: string;
  /** Custom endpoint for S3-compatible servers, e.g. http://127.0.0.1:7070. */
  endpoint?: string;
  /** Default 'us-east-1'. */
  region?: string;
  /**
   * Path-style addressing (http://host/bucket/key). Defaults to true when `endpoint` is set, because
   * self-hosted servers rarely have wildcard DNS for virtual-host buckets; false for AWS itself.
   */
  forcePathStyle?: boolean;
  /**
   * Multipart part size and the single-PUT threshold in bytes (default 8 MiB, minimum 5 MiB). Parts are
   * all this size except the last (some S3-compatible servers reject uneven parts), so a stream of unknown
   * length can be at most 10,000 x partSize; putFile raises it as the file's size requires.
   */
  partSize?: number;
  /** Parts uploaded concurrently per put (default 4). Memory per put is about (queueSize + 1) x partSize. */
  queueSize?: number;
  /** ListObjectsV2 page size (default and S3 maximum 1000); small values only make sense in tests. */
  listPageSize?: number;
  /** Keys per DeleteObjects request in deletePrefix (default and S3 maximum 1000). */
  deleteBatchSize?: number;
  /** Attempts per request, including the first, for the SDK's standard retry (default 5). */
  maxAttempts?: number;
}

/**
 * ObjectStore on any S3-compatible service. Credentials come only from the AWS SDK's default provider
 * chain (environment, shared config/credentials files and profiles, SSO, container/instance roles), so
 * they never pass through configuration, logs, `describe` or workflow payloads.
 */
export class S3Store implements ObjectStore {
  readonly describe: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize: number;
  private readonly deleteBatchSize: number;

  constructor(config: S3StoreConfig) {
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

    const endpoint = config.endpoint ? new URL(config.endpoint) : undefined;
    this.client = new S3Client({
      region: config.region ?? 'us-east-1',
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle ?? endpoint !== undefined,
      // With the default region, a bucket that lives elsewhere on AWS still works (after one redirect).
      followRegionRedirects: true,
      maxAttempts: positiveInt('maxAttempts', config.maxAttempts ?? 5),
      // Since v3.729 the SDK sends aws-chunked bodies with trailing CRC32 checksums by default; many
      // S3-compatible servers reject them or store the chunk framing inside the object.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A bounded connect time lets an unreachable endpoint fail into the SDK's retry instead of hanging;
      // the idle timeout catches a server that accepted a request and went silent (it also ends a
      // getStream body its consumer stops reading for that long).
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    });

    // Userinfo in an endpoint URL would be a credential: it never reaches describe.
    let where = '';
    if (endpoint) {
      endpoint.username = '';
      endpoint.password = '';
      endpoint.search = '';
      where = ` at ${endpoint.origin}${endpoint.pathname === '/' ? '' : endpoint.pathname}`;
    }
    this.describe = `s3://${this.bucket}/${this.prefix ? `${this.prefix}/` : ''}${where}`;
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
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

  /**
   * Streams `source` into one object. Up to one part is buffered before the first request, so bodies up
   * to partSize become a single PutObject; larger ones a multipart upload with `queueSize` parts in flight
   * and back-pressure on the source. Buffered parts (not the stream itself) are what the SDK retries, so
   * a transient failure never needs the source replayed. Any failure aborts the multipart upload: S3
   * only makes an object visible on Complete, so a failed put leaves the old object or none.
   */
  private async upload(
    key: string,
    objectKey: string,
    source: AsyncIterable<unknown> | Iterable<unknown>,
    partSize: number,
    opts: PutOptions,
  ): Promise<PutResult> {
    const hash = createHash('sha256');
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;

    const abort = new AbortController();
    let uploadId: string | undefined;
    let failure: { error: unknown } | undefined;
    const parts: CompletedPart[] = [];
    const inflight = new Set<Promise<void>>();
    let partNumber = 0;

    const startPart = (data: Buffer): void => {
      const n = ++partNumber;
      if (n > MAX_PARTS) {
        throw new Error(
          `${objectKey}: more than ${MAX_PARTS} parts of ${partSize} bytes; raise S3StoreConfig.partSize or use putFile`,
        );
      }
      const p: Promise<void> = this.client
        .send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: objectKey,
            UploadId: uploadId,
            PartNumber: n,
            Body: data,
            ContentLength: data.length,
          }),
          { abortSignal: abort.signal },
        )
        .then((out) => {
          if (!out.ETag) throw new Error(`${objectKey}: UploadPart ${n} returned no ETag`);
          parts[n - 1] = { PartNumber: n, ETag: out.ETag };
        })
        .catch((error: unknown) => {
          if (!failure) {
            failure = { error };
            abort.abort();
          }
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    };

    try {
      for await (const chunk of source) {
        const buf = toBuffer(chunk, objectKey);
        hash.update(buf);
        size += buf.length;
        pending.push(buf);
        pendingBytes += buf.length;
        // Strictly greater: a part is only cut once more data is known to follow it, so a body of
        // exactly partSize still goes out as one PutObject and the final part is never empty.
        if (pendingBytes > partSize) {
          if (uploadId === undefined) {
            const created = await this.client.send(
              new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, ContentType: opts.contentType }),
            );
            if (!created.UploadId) throw new Error(`${objectKey}: CreateMultipartUpload returned no UploadId`);
            uploadId = created.UploadId;
          }
          let joined = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
          while (joined.length > partSize) {
            while (inflight.size >= this.queueSize) await Promise.race(inflight);
            if (failure) throw failure.error;
            startPart(joined.subarray(0, partSize));
            joined = joined.subarray(partSize);
          }
          pending = [joined];
          pendingBytes = joined.length;
        }
        if (failure) throw failure.error;
      }
      const rest = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);

      if (uploadId === undefined) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: objectKey,
            Body: rest,
            ContentLength: rest.length,
            ContentType: opts.contentType,
            IfNoneMatch: opts.ifNoneMatch ? '*' : undefined,
          }),
        );
      } else {
        startPart(rest);
        await Promise.all(inflight);
        if (failure) throw failure.error;
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: objectKey,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
            // Checked at Complete time: a concurrent writer that finished first wins, as for PutObject.
            IfNoneMatch: opts.ifNoneMatch ? '*' : undefined,
          }),
        );
        uploadId = undefined;
      }
    } catch (err) {
      if (!abort.signal.aborted) abort.abort();
      // Parts still in flight would otherwise land after the abort and keep their storage.
      await Promise.allSettled(inflight);
      if (source instanceof Readable) source.destroy();
      if (uploadId !== undefined) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }))
          .catch(() => {
            // The upload stays invisible either way; a bucket lifecycle rule for incomplete multipart
            // uploads reclaims its parts. The original error is the one worth reporting.
          });
      }
      if (opts.ifNoneMatch && isConflict(err)) throw new StoreConflictError(key, this.describe);
      throw err;
    }
    return { key, size, sha256: hash.digest('hex') };
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
    const tmp = join(dirname(path), `.mer-tmp-${randomBytes(6).toString('hex')}`);
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

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
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
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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

  async commit(prefix: string, marker: Omit<CommitMarker, 'committedAt'>): Promise<CommitMarker> {
    const full: CommitMarker = { committedAt: new Date().toISOString(), ...marker };
    await this.put(joinKey(prefix, COMMIT_FILE), JSON.stringify(full, null, 2), { contentType: 'application/json' });
    return full;
  }

  async committed(prefix: string): Promise<CommitMarker | null> {
    try {
      return JSON.parse((await this.get(joinKey(prefix, COMMIT_FILE))).toString('utf8')) as CommitMarker;
    } catch (err) {
      if (err instanceof StoreNotFoundError) return null;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private mapNotFound(err: unknown, key: string): unknown {
    return isNotFound(err) ? new StoreNotFoundError(key, this.describe) : err;
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`S3Store: ${name} must be a positive integer, got ${v}`);
  return v;
}

function toBuffer(chunk: unknown, objectKey: string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError(`${objectKey}: body stream yielded ${typeof chunk}, expected bytes or strings`);
}

function bodyOf(out: GetObjectCommandOutput, key: string): Readable & { transformToByteArray(): Promise<Uint8Array> } {
  const body = out.Body;
  // In Node the SDK's body is an IncomingMessage with its stream helpers mixed in.
  if (!(body instanceof Readable) || !('transformToByteArray' in body)) {
    throw new Error(`${key}: GetObject returned no readable body`);
  }
  return body;
}

interface SdkErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkErrorShape | null;
  if (!e) return false;
  if (e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.Code === 'NoSuchKey' || statusOf(err) === 404;
}

/** 412: the key exists. 409 ConditionalRequestConflict: AWS's answer when a racing conditional write is in progress. */
function isConflict(err: unknown): boolean {
  const e = err as SdkErrorShape | null;
  if (!e) return false;
  return (
    e.name === 'PreconditionFailed' ||
    e.name === 'ConditionalRequestConflict' ||
    statusOf(err) === 412 ||
    statusOf(err) === 409
  );
}
