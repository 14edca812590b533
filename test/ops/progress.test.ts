import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProgressRates, formatDuration, formatRate } from '../../cli/progress-rate.ts';
import { ProgressPrinter, renderProgress } from '../../cli/progress-view.ts';
import type { ProgressSnapshot, StageProgress } from '../../workflows/progress.ts';

function snap(
  rows: Array<Partial<StageProgress> & Pick<StageProgress, 'dataset' | 'done' | 'total'>>,
  status: ProgressSnapshot['status'] = 'running',
): ProgressSnapshot {
  return {
    configHash: 'abc',
    status,
    startedAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    stages: rows.map((r) => ({ stage: 'segment', status: 'running', quarantined: 0, ...r })),
  };
}

describe('ProgressRates', () => {
  test('items/s and ETA from successive snapshots', () => {
    const rates = new ProgressRates({ windowMs: 60_000 });
    assert.deepEqual(
      rates.observe(snap([{ dataset: 'meld', done: 0, total: 100 }]), 0).get('segment/meld'),
      { itemsPerSec: null, etaSec: null },
      'one sample: unknown',
    );
    rates.observe(snap([{ dataset: 'meld', done: 10, total: 100 }]), 5_000);
    const r = rates.observe(snap([{ dataset: 'meld', done: 20, total: 100 }]), 10_000).get('segment/meld')!;
    assert.equal(r.itemsPerSec, 2); // 20 items in 10 s
    assert.equal(r.etaSec, 40); // 80 left at 2/s
  });

  test('the window slides: the rate follows a slowdown', () => {
    const rates = new ProgressRates({ windowMs: 10_000 });
    let done = 0;
    // 10 items/s for 30 s, then 1 item/s for 20 s.
    for (let t = 0; t <= 30; t++)
      rates.observe(snap([{ dataset: 'iemocap', done: (done = t * 10), total: 1000 }]), t * 1000);
    let r;
    for (let t = 31; t <= 50; t++)
      r = rates.observe(snap([{ dataset: 'iemocap', done: ++done, total: 1000 }]), t * 1000).get('segment/iemocap')!;
    assert.ok(r && r.itemsPerSec !== null && Math.abs(r.itemsPerSec - 1) < 1e-9, `rate ${r?.itemsPerSec}`);
    assert.equal(Math.round(r.etaSec!), 1000 - done);
  });

  test('coarse steps keep a rate between steps instead of dropping to zero', () => {
    const rates = new ProgressRates({ windowMs: 60_000 });
    rates.observe(snap([{ dataset: 'meld', done: 0, total: 3 }]), 0);
    rates.observe(snap([{ dataset: 'meld', done: 1, total: 3 }]), 20_000);
    const r = rates.observe(snap([{ dataset: 'meld', done: 1, total: 3 }]), 30_000).get('segment/meld')!;
    assert.ok(r.itemsPerSec! > 0);
    assert.equal(Math.round(r.etaSec!), 60); // 2 left at 1 per 30 s
  });

  test('stalled: no progress over the whole window gives rate 0 and no ETA', () => {
    const rates = new ProgressRates({ windowMs: 10_000 });
    for (let t = 0; t <= 30; t++) rates.observe(snap([{ dataset: 'meld', done: 5, total: 10 }]), t * 1000);
    const r = rates.observe(snap([{ dataset: 'meld', done: 5, total: 10 }]), 31_000).get('segment/meld')!;
    assert.equal(r.itemsPerSec, 0);
    assert.equal(r.etaSec, null);
  });

  test('a new total or a count going backwards (retried attempt) restarts the measurement', () => {
    const rates = new ProgressRates();
    rates.observe(snap([{ dataset: 'meld', done: 0, total: 3 }]), 0);
    rates.observe(snap([{ dataset: 'meld', done: 2, total: 3 }]), 1_000);
    assert.deepEqual(rates.observe(snap([{ dataset: 'meld', done: 0, total: 500 }]), 2_000).get('segment/meld'), {
      itemsPerSec: null,
      etaSec: null,
    });
    const r = rates.observe(snap([{ dataset: 'meld', done: 50, total: 500 }]), 12_000).get('segment/meld')!;
    assert.equal(r.itemsPerSec, 5);
    assert.equal(r.etaSec, 90);
    assert.deepEqual(rates.observe(snap([{ dataset: 'meld', done: 10, total: 500 }]), 13_000).get('segment/meld'), {
      itemsPerSec: null,
      etaSec: null,
    });
  });

  test('finished rows have ETA 0, pending rows no estimate; rows are independent', () => {
    const rates = new ProgressRates();
    rates.observe(
      snap([
        { dataset: 'meld', done: 0, total: 10 },
        { dataset: 'iemocap', done: 0, total: 0, status: 'pending' },
      ]),
      0,
    );
    const m = rates.observe(
      snap([
        { dataset: 'meld', done: 10, total: 10, status: 'done' },
        { dataset: 'iemocap', done: 0, total: 0, status: 'pending' },
      ]),
      1_000,
    );
    assert.deepEqual(m.get('segment/meld'), { itemsPerSec: null, etaSec: 0 });
    assert.deepEqual(m.get('segment/iemocap'), { itemsPerSec: null, etaSec: null });
  });

  test('two snapshots at the same instant give no rate (no division by zero)', () => {
    const rates = new ProgressRates();
    rates.observe(snap([{ dataset: 'meld', done: 1, total: 10 }]), 5_000);
    assert.deepEqual(rates.observe(snap([{ dataset: 'meld', done: 2, total: 10 }]), 5_000).get('segment/meld'), {
      itemsPerSec: null,
      etaSec: null,
    });
  });
});

describe('formatting', () => {
  test('rates and durations', () => {
    assert.equal(formatRate(250), '250/s');
    assert.equal(formatRate(12.34), '12.3/s');
    assert.equal(formatRate(0.5), '0.50/s');
    assert.equal(formatRate(0.005), '0.30/min');
    assert.equal(formatDuration(7.4), '7s');
    assert.equal(formatDuration(185), '3m05s');
    assert.equal(formatDuration(2 * 3600 + 4 * 60), '2h04m');
    assert.equal(formatDuration(76 * 3600), '3d04h');
  });

  test('the table shows rate, ETA and quarantined count of running rows', () => {
    const rates = new ProgressRates();
    rates.observe(snap([{ dataset: 'meld', done: 0, total: 100, quarantined: 2 }]), 0);
    const m = rates.observe(snap([{ dataset: 'meld', done: 25, total: 100, quarantined: 3, step: 'clips' }]), 10_000);
    const [line] = renderProgress(snap([{ dataset: 'meld', done: 25, total: 100, quarantined: 3, step: 'clips' }]), m);
    assert.match(line, /25\/100 \[clips\] {2}2\.50\/s ETA 30s {2}3 quarantined/);
  });
});

describe('ProgressPrinter', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { out: { isTTY, columns: 200, write: (s: string) => chunks.push(s) }, chunks };
  };

  test('json mode: one NDJSON event per change, with rate and ETA', () => {
    const { out, chunks } = sink(false);
    let now = 0;
    const p = new ProgressPrinter(out, 'json', { workflowId: 'mer-abc', now: () => now });
    p.update(snap([{ dataset: 'meld', done: 0, total: 10 }]));
    now = 1_000;
    p.update(snap([{ dataset: 'meld', done: 0, total: 10 }])); // unchanged: nothing printed
    now = 2_000;
    p.update(snap([{ dataset: 'meld', done: 4, total: 10, quarantined: 1 }]));
    now = 3_000;
    p.update(snap([{ dataset: 'meld', done: 10, total: 10, status: 'done' }], 'completed'));
    const events = chunks.map((c) => JSON.parse(c) as Record<string, unknown>);
    assert.equal(events.length, 3);
    assert.ok(
      chunks.every((c) => c.endsWith('\n') && !c.slice(0, -1).includes('\n')),
      'one line per event',
    );
    const s = (events[1].stages as Array<Record<string, unknown>>)[0];
    assert.deepEqual(
      {
        workflowId: events[1].workflowId,
        done: s.done,
        total: s.total,
        quarantined: s.quarantined,
        itemsPerSec: s.itemsPerSec,
        etaSec: s.etaSec,
      },
      { workflowId: 'mer-abc', done: 4, total: 10, quarantined: 1, itemsPerSec: 2, etaSec: 3 },
    );
    assert.equal(events[2].status, 'completed');
  });

  test('auto mode is silent when not a TTY and redraws in place on a TTY', () => {
    const quiet = sink(false);
    new ProgressPrinter(quiet.out, 'auto').update(snap([{ dataset: 'meld', done: 1, total: 10 }]));
    assert.deepEqual(quiet.chunks, []);
    const tty = sink(true);
    const p = new ProgressPrinter(tty.out, 'auto');
    p.update(
      snap([
        { dataset: 'meld', done: 1, total: 10 },
        { dataset: 'iemocap', done: 0, total: 10 },
      ]),
    );
    p.update(
      snap([
        { dataset: 'meld', done: 2, total: 10 },
        { dataset: 'iemocap', done: 1, total: 10 },
      ]),
    );
    assert.ok(tty.chunks.includes('\x1b[2A'), 'cursor moved up over the two rows before redrawing');
  });
});
