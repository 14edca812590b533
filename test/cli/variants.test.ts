import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, trainVariants } from '../../cli/config.ts';
import { RunConfigSchema } from '../../schemas/config.ts';

/** The variants a run config trains: names say what they read; guidance never leaks a left-out modality. */
const cfg = (c: Record<string, unknown>) => RunConfigSchema.parse({ datasets: { meld: { source: 'm.tar.gz' } }, ...c });

describe('trained variants', () => {
  test('with compress.enabled false every visual variant is named for what it reads: no VSC', () => {
    const c = cfg({ compress: { enabled: false }, train: { ablations: 'paper' } });
    const vs = trainVariants(c.train, c.compress);
    assert.deepEqual(
      vs.map((v) => v.name),
      ['T+A+V-noVSC', 'T', 'A', 'V-noVSC', 'T+A', 'T+V-noVSC', 'A+V-noVSC', 'T+A+V-noVSC-noCL'],
    );
    assert.ok(vs.every((v) => !v.vsc));
    const named = cfg({ compress: { enabled: false }, train: { variants: [{ name: 'mine' }, { modalities: ['v'] }] } });
    assert.deepEqual(
      trainVariants(named.train, named.compress).map((v) => [v.name, v.vsc]),
      [
        ['mine', false],
        ['V-noVSC', false],
      ],
    );
  });

  test('a variant learning rate is in its derived name', () => {
    const c = cfg({ train: { variants: [{}, { lr: 1e-5 }, { modalities: ['t'], lr: 0.01 }] } });
    assert.deepEqual(
      trainVariants(c.train, c.compress).map((v) => [v.name, v.lr]),
      [
        ['T+A+V', undefined],
        ['T+A+V-lr1e-5', 1e-5],
        ['T-lr0.01', 0.01],
      ],
    );
  });

  test('guidance fixed is refused for a VSC variant that leaves text or audio out, and allowed otherwise', () => {
    const c = cfg({ compress: { guidance: 'fixed' }, train: { ablations: 'modalities' } });
    let err: unknown;
    try {
      trainVariants(c.train, c.compress);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /compress\.guidance: "fixed" guides the visual token selection with text and audio/);
    assert.match(err.message, /variant\(s\) V, T\+V, A\+V would see a modality they leave out/);
    // T and A read no visual features; T+A+V uses both guiding modalities; a no-VSC variant reads unguided frames.
    const ok = cfg({
      compress: { guidance: 'fixed' },
      train: { variants: [{}, { modalities: ['t'] }, { modalities: ['v'], vsc: false }] },
    });
    assert.deepEqual(
      trainVariants(ok.train, ok.compress).map((v) => v.name),
      ['T+A+V', 'T', 'V-noVSC'],
    );
  });
});
