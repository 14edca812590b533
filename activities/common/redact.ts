/** Keeping secrets out of logs, heartbeats, errors and content keys. */

/** Scheme, host and path only: IEMOCAP links carry access tokens in the query string. */
export function redactUrlForLog(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}
