import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { PutOptions } from './types.ts';
import { MAX_PARTS } from './s3-client.ts';

/** Writing one S3 object from a byte source: a single PutObject, or a multipart upload with parts in flight. */

export interface UploadTarget {
  client: S3Client;
  bucket: string;
  objectKey: string;
  partSize: number;
  /** Parts uploaded concurrently. */
  queueSize: number;
}

/**
 * Streams `source` into one object. Up to one part is buffered before the first request, so bodies up
 * to partSize become a single PutObject; larger ones a multipart upload with `queueSize` parts in flight
 * and back-pressure on the source. Buffered parts (not the stream itself) are what the SDK retries, so
 * a transient failure never needs the source replayed. Any failure aborts the multipart upload: S3
 * only makes an object visible on Complete, so a failed put leaves the old object or none.
 */
export async function uploadObject(
  target: UploadTarget,
  source: AsyncIterable<unknown> | Iterable<unknown>,
  opts: PutOptions,
): Promise<{ size: number; sha256: string }> {
  const { client, bucket, objectKey, partSize, queueSize } = target;
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
    const p: Promise<void> = client
      .send(
        new UploadPartCommand({
          Bucket: bucket,
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
          const created = await client.send(
            new CreateMultipartUploadCommand({ Bucket: bucket, Key: objectKey, ContentType: opts.contentType }),
          );
          if (!created.UploadId) throw new Error(`${objectKey}: CreateMultipartUpload returned no UploadId`);
          uploadId = created.UploadId;
        }
        let joined = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
        while (joined.length > partSize) {
          while (inflight.size >= queueSize) await Promise.race(inflight);
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
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
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
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
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
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey, UploadId: uploadId }))
        .catch(() => {
          // The upload stays invisible either way; a bucket lifecycle rule for incomplete multipart
          // uploads reclaims its parts. The original error is the one worth reporting.
        });
    }
    throw err;
  }
  return { size, sha256: hash.digest('hex') };
}

function toBuffer(chunk: unknown, objectKey: string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError(`${objectKey}: body stream yielded ${typeof chunk}, expected bytes or strings`);
}
