import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MerError } from '../../activities/common/errors.ts';
import { clipContexts, contextSidecarPath } from '../../activities/predict/context.ts';

/** `mer predict` on a model trained with dialogue context takes the context or refuses: it never drops it. */
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-context-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MerError, String(err));
  assert.equal(err.type, 'MerConfigInvalid');
  assert.match(err.message, pattern);
}

describe('mer predict dialogue context', () => {
  test('a model trained with context and a clip without one is refused, naming the sidecar and --no-context', async () => {
    const clip = join(dir, 'dia1_utt4.mp4');
    await refused(
      clipContexts([clip], { utterances: 2, readsText: true, folder: false }),
      /no dialogue context for .*dia1_utt4\.mp4.*contextUtterances 2.*--context.*dia1_utt4\.context\.txt.*--no-context/,
    );
  });

  test('sidecars give each clip its previous utterances, the last contextUtterances of them, oldest first', async () => {
    const a = join(dir, 'a.mp4');
    const b = join(dir, 'b.mp4');
    await writeFile(contextSidecarPath(a), '\uFEFFfirst\r\nsecond\n\nthird\n');
    await writeFile(contextSidecarPath(b), '');
    assert.deepEqual(await clipContexts([a, b], { utterances: 2, readsText: true, folder: true }), [
      ['second', 'third'],
      [],
    ]);
  });

  test('--context serves a single clip; --no-context is an explicit choice; models without context take none', async () => {
    const clip = join(dir, 'single.mp4');
    assert.deepEqual(await clipContexts([clip], { utterances: 1, readsText: true, folder: false, given: ['x', 'y'] }), [
      ['y'],
    ]);
    assert.deepEqual(await clipContexts([clip], { utterances: 3, readsText: true, folder: false, none: true }), [[]]);
    assert.deepEqual(await clipContexts([clip], { utterances: 0, readsText: true, folder: false }), [[]]);
    await refused(
      clipContexts([clip], { utterances: 0, readsText: true, folder: false, given: ['x'] }),
      /trained without dialogue context/,
    );
    await refused(
      clipContexts([clip, join(dir, 'other.mp4')], { utterances: 1, readsText: true, folder: true, given: ['x'] }),
      /single clip; for a folder put a <name>\.context\.txt/,
    );
    await refused(
      clipContexts([clip], { utterances: 1, readsText: true, folder: false, given: ['x'], none: true }),
      /contradict/,
    );
  });
});
