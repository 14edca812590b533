import type { S3Client } from '@aws-sdk/client-s3';
import { ErrorTypes, MerError } from '../common/errors.ts';

/**
 * S3 answers that no retry can change, turned into typed non-retryable errors that say what to fix,
 * and an unreachable endpoint named as the object store. Installed as the outermost middleware of the
 * store's client, so every request (uploads included) is covered, after the SDK's own retries and
 * region redirects. NotFound, precondition and range answers pass through unchanged: callers read them.
 */

/** Credentials, signature and permission: the worker's credentials or the bucket policy must change. */
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccountProblem',
  'AllAccessDisabled',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
  'ExpiredToken',
  'InvalidAccessKeyId',
  'InvalidSecurity',
  'InvalidToken',
  'RequestTimeTooSkewed',
  'SignatureDoesNotMatch',
  'TokenRefreshRequired',
  // versitygw's answer for an unknown access key id.
  'XAdminUserNotFound',
]);
const ROOT_UNUSABLE = new Set(['NoSuchBucket', 'InvalidBucketName', 'InvalidBucketState']);
const KEY_INVALID = new Set(['KeyTooLongError', 'InvalidObjectName']);
/** Socket-level failures: the endpoint did not answer. */
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  TimeoutError: 'no answer in time',
};

/**
 * The object store did not answer. Retryable on purpose: a server that is restarting or a network that
 * is down comes back, and each attempt fails fast; the name and message say which endpoint to check.
 * No `cause`: the CLI shows the innermost message of a chain, and this one is the useful one.
 */
export class StoreUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MerStoreUnreachable';
  }
}

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const ADVICE = {
  access:
    'check the credentials this worker gets from the AWS provider chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, its role), their permissions on the bucket, and the clock',
  root: 'create the bucket or fix store.bucket / --store s3://bucket/prefix',
  key: 'keys are at most 1024 bytes with the store prefix (rename the file the key was made from)',
};

/** The typed error for an SDK failure of `command` on `where`, or the error itself when it may pass. */
export function mapS3Error(err: unknown, where: string, command: string): unknown {
  if (err === null || typeof err !== 'object' || err instanceof MerError) return err;
  const e = err as SdkError;
  const name = e.Code ?? e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  const said = `${name || 'error'}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`;
  const details = { store: where, command, error: name, status };
  // A HEAD answer has no body, so a refused HEAD is only a bare 403.
  if (ACCESS_DENIED.has(name) || status === 403) {
    return new MerError(
      ErrorTypes.StoreAccessDenied,
      `object store ${where} refused ${command}: ${said}; ${ADVICE.access}`,
      details,
    );
  }
  if (ROOT_UNUSABLE.has(name)) {
    return new MerError(ErrorTypes.StoreRootUnusable, `object store ${where}: ${said}; ${ADVICE.root}`, details);
  }
  if (KEY_INVALID.has(name)) {
    return new MerError(ErrorTypes.StoreKeyInvalid, `object store ${where}: ${said}; ${ADVICE.key}`, details);
  }
  const socket = UNREACHABLE[e.code ?? ''] ?? UNREACHABLE[e.name ?? ''];
  if (socket && status === undefined) {
    const attempts = e.$metadata?.attempts;
    return new StoreUnreachableError(
      `object store ${where} is unreachable: ${socket} (${e.code ?? e.name}${attempts ? ` after ${attempts} attempts` : ''}) on ${command}; start the S3 server or fix store.endpoint / --s3-endpoint (retried: a server that comes back is picked up)`,
    );
  }
  return err;
}

/** Maps every failed request of `client` through mapS3Error. */
export function installErrorMapping(client: S3Client, where: string): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        throw mapS3Error(err, where, String(context.commandName ?? 'request').replace(/Command$/, ''));
      }
    },
    { step: 'initialize', priority: 'high', name: 'merStoreErrors' },
  );
}
