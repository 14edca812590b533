import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { createStore } from '../../activities/store/index.ts';
import { fetchEvents, type HistoryEvent } from '../../cli/run-history.ts';
import type { PipelineResult } from '../../schemas/config.ts';
import { clusterEnv, runMer, type MerResult } from '../helpers/cli.ts';
import { startArchiveServer } from '../helpers/http-server.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';

const fx = pipelineTest({ name: 'secrets', seed: 9, iemocap: 'folder', meld: 'archive' });
let env: TestWorkflowEnvironment;
let s3: S3TestServer;
let http: Awaited<ReturnType<typeof startArchiveServer>>;
let iemocapFolder: string;
let meldArchive: string;

before(async () => {
  await fx.whenReady();
  env = fx.env;
  iemocapFolder = fx.folder('iemocap');
  meldArchive = fx.archive('meld');
  [s3, http] = await Promise.all([startS3Server(), startArchiveServer([meldArchive])]);
  fx.onTeardown(() => http.close());
  fx.onTeardown(() => s3.dispose());
});

/**
 * Every string in a history, payload bytes decoded as UTF-8: what the UI and `temporal workflow show`
 * display. (JSON.stringify would not do: protobuf messages serialize bytes as base64, hiding them.)
 */
function historyText(value: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') parts.push(v);
    else if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'object' && !seen.has(v)) {
      seen.add(v);
      // Own fields only: decoded protobuf messages hold what was sent; the prototypes hold reflection data.
      for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k]);
    }
  };
  walk(value);
  return parts.join('\n');
}

/** Where a text occurs in a history: event type and which attribute, for a precise assertion. */
function occurrences(events: HistoryEvent[], needle: string): string[] {
  const out: string[] = [];
  for (const e of events) {
    for (const [k, v] of Object.entries(e)) {
      if (!k.endsWith('Attributes') || !v) continue;
      for (const [field, fv] of Object.entries(v as Record<string, unknown>)) {
        if (historyText(fv).includes(needle)) out.push(`${k}.${field}`);
      }
    }
  }
  return out;
}

describe('credentials stay out of histories, logs and reports', () => {
  const apiKey = `tmprl-api-${randomBytes(18).toString('hex')}`;
  const token = `tok${randomBytes(16).toString('hex')}`;
  let run: MerResult;
  let status: MerResult;
  let runs: MerResult;
  let histories: Map<string, HistoryEvent[]>;
  let storeTexts: Map<string, string>;
  let workflowId: string;

  before(async () => {
    const cli = clusterEnv(env.address, {
      // The dev server ignores the key; the CLI and its workers still send it on every call, so a leak
      // into anything they log or record would show here. TLS off: the dev server speaks plaintext.
      TEMPORAL_API_KEY: apiKey,
      TEMPORAL_TLS: 'false',
      // As chatty as the workers get: anything logged at any level is scanned.
      MER_LOG_LEVEL: 'DEBUG',
    });
    const url = `${http.urlOf(meldArchive)}?token=${token}&expires=2099`;
    const prefix = 'runs/secrets';
    run = await runMer(
      [
        'run',
        '--until',
        'acquire',
        '--iemocap',
        iemocapFolder,
        '--meld',
        url,
        '--store',
        `s3://${s3.bucket}/${prefix}`,
        '--s3-endpoint',
        s3.endpoint,
        '--chunk-mib',
        '0.25',
        '--workers',
        '--json',
      ],
      { env: cli, timeoutMs: 150_000 },
    );
    assert.equal(run.code, 0, `mer run failed:\n${run.stderr.slice(-4000)}`);
    const result = JSON.parse(run.stdout) as PipelineResult;
    assert.equal(result.datasets.meld.ran.download, true, 'MELD came over the tokenized link');
    assert.ok(
      http.requests.some((r) => r.path.includes(`token=${token}`)),
      'the server saw the token: it was really used',
    );
    workflowId = `mer-${result.configHash}`;
    [status, runs] = [
      await runMer(['status', workflowId, '--json'], { env: cli, timeoutMs: 60_000 }),
      await runMer(['runs', '--json'], { env: cli, timeoutMs: 60_000 }),
    ];
    assert.equal(status.code, 0, status.stderr);
    assert.equal(runs.code, 0, runs.stderr);

    // Every history of the run: the parent and each child it started.
    histories = new Map();
    const parentRun = (await env.client.workflow.getHandle(workflowId).describe()).runId;
    const parent = await fetchEvents(env.client, workflowId, parentRun);
    histories.set(workflowId, parent);
    for (const e of parent) {
      const c = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (c?.workflowId && c.runId) histories.set(c.workflowId, await fetchEvents(env.client, c.workflowId, c.runId));
    }
    assert.equal(histories.size, 3, 'parent + IEMOCAP and MELD children');

    // The store's small objects: commit markers, indexes, summaries, issue lists.
    const store = createStore({ ...s3.spec, prefix });
    storeTexts = new Map();
    for (const o of await store.list('')) {
      if (/(_COMMIT|\.json|\.jsonl)$/.test(o.key)) storeTexts.set(o.key, (await store.get(o.key)).toString('utf8'));
    }
    assert.ok(
      [...storeTexts.keys()].some((k) => k.startsWith('downloads/meld/')) ||
        [...storeTexts.keys()].some((k) => k.startsWith('raw/meld/')),
    );
  });

  const secrets = () => ({
    'S3 secret key': s3.secretAccessKey,
    'S3 access key id': s3.accessKeyId,
    'Temporal API key': apiKey,
  });

  test('S3 keys and the Temporal API key: in no history, no CLI or worker log, no report, no store object', () => {
    assert.ok(run.stderr.length > 1000, 'the workers logged (DEBUG) so the scan has something to scan');
    // The scan sees decoded payloads: the store endpoint and bucket, which travel in inputs, are found.
    assert.ok(historyText(histories.get(workflowId)).includes(s3.endpoint), 'payloads are decoded for the scan');
    for (const [what, secret] of Object.entries(secrets())) {
      for (const [id, events] of histories)
        assert.ok(!historyText(events).includes(secret), `${what} in the history of ${id}`);
      assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), `${what} in mer run output`);
      assert.ok(!status.stdout.includes(secret) && !status.stderr.includes(secret), `${what} in mer status`);
      assert.ok(!runs.stdout.includes(secret), `${what} in mer runs`);
      for (const [key, text] of storeTexts)
        assert.ok(!key.includes(secret) && !text.includes(secret), `${what} in store object ${key}`);
    }
  });

  test('the link token: in no log, report, failure, heartbeat, store object or workflow history', () => {
    assert.ok(!run.stdout.includes(token), 'mer run result');
    assert.ok(!run.stderr.includes(token), 'mer run progress, worker logs');
    assert.ok(!status.stdout.includes(token), 'mer status shows the source without its query');
    assert.match(status.stdout, /MELD\.Raw\.tar\.gz/);
    assert.ok(!runs.stdout.includes(token), 'mer runs');
    // The sealed link lived in the store only until the download was committed.
    for (const [key, text] of storeTexts) assert.ok(!text.includes(token), `store object ${key}`);
    // mer run seals the query into the store (secretRef); inputs, results, failures, heartbeats,
    // memos, search attributes, summaries and signals carry the bare URL only.
    for (const [id, events] of histories) {
      const where = [...occurrences(events, token)];
      assert.deepEqual(where, [], `token in ${where.join(', ')} of ${id}`);
    }
    const meld = histories.get(`${workflowId}/acquire/meld`)!;
    const download = meld.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'downloadSource');
    assert.ok(download && historyText(download.userMetadata).includes('MELD.Raw.tar.gz'));
    assert.ok(
      historyText(download.activityTaskScheduledEventAttributes?.input).includes('secrets/url/'),
      'the activity got a secretRef',
    );
  });
});

describe('subprocesses never go through a shell', () => {
  test('no exec/execSync, no shell option, no sh -c in the pipeline, worker and CLI code', async () => {
    const roots = ['activities', 'workers', 'workflows', 'cli'].map((d) => join(REPO_ROOT, d));
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (/\.(ts|mjs)$/.test(e.name)) files.push(p);
      }
    };
    for (const r of roots) await walk(r);
    assert.ok(files.length > 20);
    let spawners = 0;
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const m of code.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"](?:node:)?child_process['"]/g)) {
        spawners++;
        const names = m[1].split(',').map(
          (n) =>
            n
              .trim()
              .replace(/^type\s+/, '')
              .split(/\s+as\s+/)[0],
        );
        for (const bad of ['exec', 'execSync']) assert.ok(!names.includes(bad), `${f} imports ${bad} (runs a shell)`);
      }
      assert.doesNotMatch(code, /\bshell\s*:\s*(true|['"`])/, `${f} passes a shell option`);
      assert.doesNotMatch(code, /spawn(Sync)?\(\s*['"`](\/bin\/)?(ba)?sh['"`]/, `${f} spawns a shell`);
    }
    assert.ok(spawners >= 2, 'the scan found the modules that start ffmpeg and the dev server');
  });
});
