import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export async function sha256Stream(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}
