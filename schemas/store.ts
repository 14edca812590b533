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

/**
 * Folders a store root must never be: a store creates, overwrites and (gc, deletePrefix) deletes files
 * under its root, so `/`, the system's own folders and the parents of home folders are refused.
 * SYSTEM_TREES are refused with everything below them too (nothing of a user's belongs there);
 * `/dev/shm/<folder>` (a RAM disk for scratch) is the one exception.
 */
const SYSTEM_FOLDERS = new Set([
  '/', '/bin', '/boot', '/dev', '/dev/shm', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media',
  '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/snap', '/srv', '/sys', '/tmp', '/usr', '/usr/local',
  '/usr/share', '/var', '/var/lib', '/var/log', '/var/tmp', '/Applications', '/Library', '/System', '/Users',
  '/Volumes', '/private', '/private/etc', '/private/tmp', '/private/var',
]); // prettier-ignore
const SYSTEM_TREES = [
  '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys', '/usr/bin',
  '/usr/include', '/usr/lib', '/usr/lib32', '/usr/lib64', '/usr/libexec', '/usr/sbin', '/System', '/private/etc',
]; // prettier-ignore
const TREE_EXCEPTIONS = ['/dev/shm/'];

/** An absolute POSIX path with '.', '..' and repeated slashes resolved lexically (pure: no file system). */
export function normalizeAbsolutePath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Why an absolute folder cannot be a store root (it is `/` or a system folder), or null. Lexical only. */
export function systemFolderRefusal(absolutePath: string): string | null {
  const p = normalizeAbsolutePath(absolutePath);
  if (SYSTEM_FOLDERS.has(p)) return p === '/' ? 'it is the file system root /' : `${p} is a system folder`;
  if (TREE_EXCEPTIONS.some((e) => p.startsWith(e))) return null;
  const tree = SYSTEM_TREES.find((t) => p === t || p.startsWith(`${t}/`));
  if (tree === p) return `${p} is a system folder`;
  return tree ? `${p} is inside the system folder ${tree}` : null;
}

export const LocalStoreSpecSchema = z.strictObject({
  kind: z.literal('local'),
  /** Folder that holds the store; relative paths resolve against the worker's working directory. */
  root: z
    .string({
      error: (iss) => (iss.input === undefined ? 'root is required for a local store' : 'root must be a folder path'),
    })
    .min(1, 'root must name a folder')
    .superRefine((root, ctx) => {
      // Relative roots are checked once resolved (cli/config.ts) and again when the store is opened.
      const why = root.startsWith('/') ? systemFolderRefusal(root) : null;
      if (why) ctx.addIssue({ code: 'custom', message: storeRootAdvice(why) });
    }),
});

/** The message for a refused root: why, and what to choose instead. */
export function storeRootAdvice(why: string): string {
  return `root must be a folder of its own, not the file system root, a system folder or a home folder (${why}): a store writes and deletes files under its root; choose e.g. /srv/mer-store or ~/mer-store`;
}

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

/** A stage's `_COMMIT` marker (activities/store/types.ts CommitMarker); extra fields are kept. */
export const CommitMarkerSchema = z.looseObject({
  committedAt: z.string(),
  stage: z.string(),
  summary: z.record(z.string(), z.unknown()),
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
