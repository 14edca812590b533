import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { GarbageItem } from './garbage.ts';
import { isNotFound } from './s3-client.ts';

/**
 * An S3 store's garbage: multipart uploads under its prefix that were started and neither completed
 * nor aborted (uploadObject aborts on every failure it sees; a killed process cannot). Their parts
 * take space invisibly until aborted. Their age is their newest part's (or their start's), so an
 * upload still sending parts is young.
 */
export async function listIncompleteUploads(client: S3Client, bucket: string, prefix: string): Promise<GarbageItem[]> {
  const root = prefix ? `${prefix}/` : '';
  const out: GarbageItem[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: root,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const u of page.Uploads ?? []) {
      if (!u.Key?.startsWith(root) || !u.UploadId) continue;
      let size = 0;
      let newest = u.Initiated?.getTime() ?? 0;
      let partMarker: string | undefined;
      do {
        let parts;
        try {
          parts = await client.send(
            new ListPartsCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId, PartNumberMarker: partMarker }),
          );
        } catch (err) {
          // Completed or aborted by its writer since the listing: not garbage.
          if (isNotFound(err)) break;
          throw err;
        }
        for (const p of parts.Parts ?? []) {
          size += p.Size ?? 0;
          newest = Math.max(newest, p.LastModified?.getTime() ?? 0);
        }
        partMarker = parts.IsTruncated ? parts.NextPartNumberMarker : undefined;
      } while (partMarker);
      out.push({
        kind: 'multipart-upload',
        key: u.Key.slice(root.length),
        size,
        modified: new Date(newest).toISOString(),
        uploadId: u.UploadId,
      });
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
  return out;
}

/** Aborts one upload; one already gone (completed or aborted since) is not an error. */
export async function abortUpload(
  client: S3Client,
  bucket: string,
  objectKey: string,
  uploadId: string,
): Promise<boolean> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey, UploadId: uploadId }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
