import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, RetryState, TerminatedFailure } from '@temporalio/common';
import { classifyRunEnd, typedMessage } from '../../cli/run-end.ts';
import { runScopedQueues, scopesQueues } from '../../cli/run-queues.ts';
import { describeServed, servedQueues } from '../../workers/factory.ts';
import { runMer } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';

/**
 * What a user reads when something is wrong, without a Temporal server: each message's words and the
 * command's exit status. (The messages that need a server are in test/ops/operations.test.ts.)
 */

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-messages-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('messages that say what to do', () => {
  test('--labels for a run without IEMOCAP is an error naming the fix, exit 1', async () => {
    const r = await runMer(['run', '--meld', '--labels', '4class', '--until', 'acquire'], {
      env: { TEMPORAL_ADDRESS: '' },
    });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'mer: --labels 4class: sets the IEMOCAP label set, but this run has no IEMOCAP; add --iemocap <source> or drop --labels',
    );
  });

  test('the first command without the Temporal CLI names the one command to run, exit 1', async () => {
    // Nothing finds a CLI: no TEMPORAL_CLI, a PATH without `temporal`, an empty tools folder, and no
    // server answering on the dev port.
    const empty = join(dir, 'no-tools');
    await mkdir(join(empty, 'bin'), { recursive: true });
    const env = {
      TEMPORAL_ADDRESS: '',
      TEMPORAL_CLI: '',
      PATH: join(empty, 'bin'),
      MER_TOOLS_DIR: empty,
      MER_HOME: join(dir, 'home'),
      MER_DEV_PORT: String(await freePort()),
      MER_DEV_UI_PORT: String(await freePort()),
      MER_SDK_DEV_SERVER: '',
    };
    for (const args of [
      ['run', '--meld', '--until', 'acquire', '--store', join(dir, 'store')],
      ['dev', '--detach'],
    ]) {
      const r = await runMer(args, { env });
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0], /^mer: the Temporal CLI is not installed: run `npm run setup` once/);
      assert.match(lines[0], /scripts\/setup-tools\.sh/);
      assert.doesNotMatch(r.stderr, /ephemeral server/);
    }
  });

  test('`mer manifest` errors carry their Mer* type, exit 1', async () => {
    const empty = join(dir, 'meld-empty');
    await mkdir(empty, { recursive: true });
    const r = await runMer(['manifest', '--dataset', 'meld', '--source', empty, '--store', join(dir, 'mstore')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^mer: MerAnnotationsMissing: no MELD annotations found/);
  });

  test('a run that ended is named in its own words, with the command that continues it', () => {
    const id = 'mer-abc';
    const failed = classifyRunEnd(
      new WorkflowFailedError(
        'Workflow execution failed',
        ApplicationFailure.create({
          type: 'MerStageFailed',
          message: 'pipeline abc failed: checksum',
          cause: ApplicationFailure.create({ type: 'MerChecksumMismatch', message: 'sha256 of MELD.Raw.tar.gz is x' }),
        }),
        RetryState.NON_RETRYABLE_FAILURE,
      ),
      id,
    )!;
    assert.deepEqual(failed.event(), {
      event: 'failed',
      workflowId: id,
      type: 'MerChecksumMismatch',
      message: 'MerChecksumMismatch: sha256 of MELD.Raw.tar.gz is x',
      next: 'mer resume mer-abc',
    });
    assert.equal(
      failed.message,
      'run mer-abc failed: MerChecksumMismatch: sha256 of MELD.Raw.tar.gz is x; fix the cause, then `mer resume mer-abc` continues it, reusing every committed output',
    );

    const terminated = classifyRunEnd(
      new WorkflowFailedError(
        'Workflow execution terminated',
        new TerminatedFailure('disk full'),
        RetryState.NON_RETRYABLE_FAILURE,
      ),
      id,
    )!;
    assert.equal(terminated.event().event, 'terminated');
    assert.equal(
      terminated.message,
      'run mer-abc was terminated (disk full); `mer resume mer-abc` continues it, reusing every committed output',
    );
    assert.doesNotMatch(terminated.message, /fail/);

    const cancelled = classifyRunEnd(
      new WorkflowFailedError(
        'Workflow execution cancelled',
        new CancelledFailure('cancelled'),
        RetryState.NON_RETRYABLE_FAILURE,
      ),
      id,
    )!;
    assert.deepEqual([cancelled.event().event, cancelled.event().next], ['cancelled', 'mer resume mer-abc']);
    assert.equal(classifyRunEnd(new Error('connection reset'), id), null, 'not the run ending: no run words');
    assert.equal(typedMessage(new Error('plain')), 'plain');
  });

  test('`mer worker --queue gpu` says it serves activities only; workflows run on the cpu queue', () => {
    const taskQueues = { cpu: 'mer-cpu', gpu: 'mer-gpu' };
    assert.equal(
      describeServed(servedQueues({ taskQueues, queues: ['gpu'], workflows: true })),
      'mer-gpu (activities)',
    );
    assert.equal(
      describeServed(servedQueues({ taskQueues, queues: ['cpu', 'gpu'], workflows: true })),
      'mer-cpu (workflows + activities), mer-gpu (activities)',
    );
    assert.equal(
      describeServed(servedQueues({ taskQueues, queues: ['cpu'], workflows: false })),
      'mer-cpu (activities)',
    );
  });

  test('embedded runs with in-process workers get task queues of their own; a cluster keeps its names', () => {
    assert.deepEqual(runScopedQueues({ cpu: 'mer-cpu', gpu: 'mer-gpu' }, 'mer-abc'), {
      cpu: 'mer-cpu@mer-abc',
      gpu: 'mer-gpu@mer-abc',
    });
    // Idempotent: a resumed run keeps its scoped names.
    assert.deepEqual(runScopedQueues({ cpu: 'mer-cpu@mer-abc', gpu: 'mer-gpu@mer-abc' }, 'mer-abc'), {
      cpu: 'mer-cpu@mer-abc',
      gpu: 'mer-gpu@mer-abc',
    });
    assert.equal(scopesQueues({ cluster: false, workers: true, wait: true }), true);
    assert.equal(scopesQueues({ cluster: true, workers: true, wait: true }), false);
    assert.equal(scopesQueues({ cluster: false, workers: false, wait: true }), false);
    assert.equal(scopesQueues({ cluster: false, workers: true, wait: false }), false);
  });
});
