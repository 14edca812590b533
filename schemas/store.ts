import { z } from 'zod';

/** S3's bucket naming rules (what AWS and versitygw enforce); checked here so a typo fails before any request. */
const bucketName = z
  .string({
    error: (iss) => (iss.input === undefined ? 'bucket is required for an s3 store' : 'bucket must be a string'),
  })
  .min(3, 'bucket names are 3-63 characters long')
  .max(63, 'bucket names are 3-63 characters long')
  .regex(
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/,
    'bucket names use lowercase letters, digits, dots and hyphens, and start and end with a letter or digit',
  );

/** A key prefix inside the bucket; surrounding slashes are dropped so 'runs/a/' and '/runs/a' mean the same. */
const keyPrefix = z
  .string({ error: 'prefix must be a string' })
  .transform((s) => s.replace(/^\/+|\/+$/g, ''))
  .refine((s) => s === '' || s.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'), {
    message: "prefix must not contain empty, '.' or '..' segments",
  })
  .refine((s) => !s.includes('\\') && !s.includes('\0'), { message: 'prefix must not contain backslashes or NUL' });

const endpointUrl = z
  .url({ protocol: /^https?$/, error: 'endpoint must be an http:// or https:// URL, e.g. http://127.0.0.1:7070' })
  .refine((u) => !new URL(u).username && !new URL(u).password, {
    message: 'endpoint must not embed credentials; they come from the AWS credential chain (env, profile, role)',
  });

export const LocalStoreSpecSchema = z.strictObject({
  kind: z.literal('local'),
  /** Folder that holds the store; relative paths resolve against the worker's working directory. */
  root: z
    .string({
      error: (iss) => (iss.input === undefined ? 'root is required for a local store' : 'root must be a folder path'),
    })
    .min(1, 'root must name a folder'),
});

export const S3StoreSpecSchema = z.strictObject({
  kind: z.literal('s3'),
  bucket: bucketName,
  prefix: keyPrefix.optional(),
  /** Only for S3-compatible servers; omit for AWS S3. */
  endpoint: endpointUrl.optional(),
  region: z
    .string({ error: 'region must be a string' })
    .regex(/^[a-z0-9-]+$/, 'region looks like us-east-1 (lowercase letters, digits and hyphens)')
    .optional(),
  forcePathStyle: z.boolean({ error: 'forcePathStyle must be true or false' }).optional(),
});

/**
 * Where stage outputs live. Credentials are deliberately absent: S3 access comes from the standard AWS
 * provider chain on each worker, so specs can travel in workflow payloads and logs.
 */
export const StoreSpecSchema = z.discriminatedUnion('kind', [LocalStoreSpecSchema, S3StoreSpecSchema], {
  error: (issue) => (issue.code === 'invalid_union' ? "store.kind must be 'local' or 's3'" : undefined),
});

export type LocalStoreSpec = z.infer<typeof LocalStoreSpecSchema>;
export type S3StoreSpec = z.infer<typeof S3StoreSpecSchema>;
export type StoreSpec = z.infer<typeof StoreSpecSchema>;

/** Validates untrusted input (config files, payloads) with one readable message listing every problem. */
export function parseStoreSpec(input: unknown): StoreSpec {
  const r = StoreSpecSchema.safeParse(input);
  if (!r.success) throw new Error(`invalid store spec:\n${z.prettifyError(r.error)}`);
  return r.data;
}
