import { z } from 'zod';

/**
 * Error text for invalid external input: names the file, the line when the input format has lines,
 * and the field. Every schema failure in the project is reported through this.
 */
export function describeZodError(file: string, error: z.ZodError, lineOf?: (path: PropertyKey[]) => number | undefined): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    const line = lineOf?.(issue.path);
    return `${file}${line ? `:${line}` : ''}: field ${field}: ${issue.message}`;
  });
  return lines.join('\n');
}
