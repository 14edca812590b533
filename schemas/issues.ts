import { z } from 'zod';

/**
 * Error text for invalid external input: names the file, the line when the input format has lines,
 * and the field. Every schema failure in the project is reported through this.
 */
export function describeZodError(
  file: string,
  error: z.ZodError,
  lineOf?: (path: PropertyKey[]) => number | undefined,
): string {
  const lines = error.issues.flatMap((issue) => {
    // zod reports unknown keys on their parent object; pointing at each key's own line and path is
    // what lets a user find the typo.
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return paths.map((path) => {
      const field = path.length ? path.map(String).join('.') : '(root)';
      const line = lineOf?.(path);
      const message =
        issue.code === 'unrecognized_keys'
          ? 'unknown key (check its spelling and the stage README for the allowed keys)'
          : issue.message;
      return `${file}${line ? `:${line}` : ''}: field ${field}: ${message}`;
    });
  });
  return lines.join('\n');
}
