import { Readable } from 'node:stream';
import { S3Client, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { installErrorMapping } from './s3-errors.ts';

/** S3Store's configuration, its SDK client, and reading the SDK's answers (bodies, error shapes). */

export const MiB = 1024 * 1024;
/** S3's floor for every part but the last. */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's ceiling on parts per upload. */
export const MAX_PARTS = 10_000;
/** DeleteObjects accepts at most this many keys per request. */
export const MAX_DELETE_BATCH = 1000;

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

/** The SDK client for a config; credentials only from the SDK's default provider chain (see S3Store). */
export function createS3Client(config: S3StoreConfig): S3Client {
  const endpoint = config.endpoint ? new URL(config.endpoint) : undefined;
  const client = new S3Client({
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
  installErrorMapping(
    client,
    describeS3(config.bucket, (config.prefix ?? '').replace(/^\/+|\/+$/g, ''), config.endpoint),
  );
  return client;
}

/** `s3://bucket/prefix/ at origin`: where a store is, for logs and messages. */
export function describeS3(bucket: string, prefix: string, endpointUrl: string | undefined): string {
  const endpoint = endpointUrl ? new URL(endpointUrl) : undefined;
  // Userinfo in an endpoint URL would be a credential: it never reaches describe.
  let where = '';
  if (endpoint) {
    endpoint.username = '';
    endpoint.password = '';
    endpoint.search = '';
    where = ` at ${endpoint.origin}${endpoint.pathname === '/' ? '' : endpoint.pathname}`;
  }
  return `s3://${bucket}/${prefix ? `${prefix}/` : ''}${where}`;
}

export function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`S3Store: ${name} must be a positive integer, got ${v}`);
  return v;
}

export function bodyOf(
  out: GetObjectCommandOutput,
  key: string,
): Readable & { transformToByteArray(): Promise<Uint8Array> } {
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

export function statusOf(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

export function isNotFound(err: unknown): boolean {
  const e = err as SdkErrorShape | null;
  if (!e) return false;
  if (e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.Code === 'NoSuchKey' || statusOf(err) === 404;
}

/** 412: the key exists. 409 ConditionalRequestConflict: AWS's answer when a racing conditional write is in progress. */
export function isConflict(err: unknown): boolean {
  const e = err as SdkErrorShape | null;
  if (!e) return false;
  return (
    e.name === 'PreconditionFailed' ||
    e.name === 'ConditionalRequestConflict' ||
    statusOf(err) === 412 ||
    statusOf(err) === 409
  );
}
