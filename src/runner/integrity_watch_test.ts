import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from './clock.ts';
import { IntegrityWatch } from './integrity_watch.ts';

function setup(initial: string | undefined = undefined) {
  const clock = new FakeClock(0);
  let damage = initial;
  let busy = false;
  const reports: string[] = [];
  const watch = new IntegrityWatch(
    async () => damage,
    (reason) => reports.push(reason),
    { intervalMs: 500, busy: () => busy, clock },
  );
  return {
    clock,
    watch,
    reports,
    damage: (d: string | undefined) => {
      damage = d;
    },
    busy: (b: boolean) => {
      busy = b;
    },
  };
}

describe('IntegrityWatch', () => {
  it('checks every interval once started, and reports nothing while intact', async () => {
    const t = setup();
    await t.clock.advance(2000);
    assert.equal(t.watch.checks, 0, 'not before start');
    t.watch.start();
    await t.clock.advance(1000);
    assert.equal(t.watch.checks, 2);
    assert.deepEqual(t.reports, []);
    t.watch.stop();
    await t.clock.advance(1000);
    assert.equal(t.watch.checks, 2);
  });

  it('reports damage at the next check, once until a sync finished, then again if still damaged', async () => {
    const t = setup();
    t.watch.start();
    await t.clock.advance(500);
    t.damage('the canary chain is gone');
    await t.clock.advance(500);
    assert.deepEqual(t.reports, ['the canary chain is gone']);
    await t.clock.advance(2000);
    assert.equal(t.reports.length, 1, 'waits for the repair');
    t.watch.syncFinished();
    await t.clock.advance(500);
    assert.equal(t.reports.length, 2, 'still damaged after the sync: reported again');
    t.damage(undefined);
    t.watch.syncFinished();
    await t.clock.advance(2000);
    assert.equal(t.reports.length, 2);
    t.watch.stop();
  });

  it('never checks during a sync', async () => {
    const t = setup('gone');
    t.busy(true);
    t.watch.start();
    await t.clock.advance(2000);
    assert.equal(t.watch.checks, 0);
    assert.deepEqual(t.reports, []);
    t.busy(false);
    await t.clock.advance(500);
    assert.deepEqual(t.reports, ['gone']);
    t.watch.stop();
  });
});
