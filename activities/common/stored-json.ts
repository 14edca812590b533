import { z } from 'zod';
import { ErrorTypes, MerError } from './errors.ts';

/**
 * JSON the pipeline wrote to its store, read back and checked against its schema. Bytes that do not
 * parse or break the schema were damaged or edited after the write: a retry reads the same bytes, so
 * the failure is non-retryable (MerOutputInvalid) and names the object to delete so it is made again.
 */
export function parseStoredJson<S extends z.ZodType>(
  bytes: Uint8Array,
  key: string,
  where: string,
  schema: S,
): z.infer<S> {
  const fail = (why: string): MerError =>
    new MerError(
      ErrorTypes.OutputInvalid,
      `${key} in ${where} ${why}; the pipeline wrote it, so it was damaged or edited since: delete it (or its stage's folder) and run again to have it made anew`,
      { key, store: where },
    );
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw fail(`is not valid JSON (${(err as Error).message})`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw fail(`breaks its schema: ${issueSummary(r.error)}`);
  return r.data;
}

/** The first few issues of a zod error as `field: message`, one line. */
export function issueSummary(error: z.ZodError, max = 3): string {
  const shown = error.issues
    .slice(0, max)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
  const more = error.issues.length - shown.length;
  return shown.join('; ') + (more > 0 ? ` (and ${more} more)` : '');
}

/** `parseStoredJson` of a store object: the store names itself in the message. */
export async function readStoredJson<S extends z.ZodType>(
  store: { get(key: string): Promise<Uint8Array>; readonly describe: string },
  key: string,
  schema: S,
): Promise<z.infer<S>> {
  return parseStoredJson(await store.get(key), key, store.describe, schema);
}
