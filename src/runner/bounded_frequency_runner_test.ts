import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedFrequencyRunner } from './bounded_frequency_runner.ts';
import { FakeClock } from './clock.ts';

function setup(fn?: () => Promise<void>) {
  const clock = new FakeClock(1_000_000);
  const starts: number[] = [];
  const errors: unknown[] = [];
  const runner = new BoundedFrequencyRunner(
    async () => {
      starts.push(clock.now() - 1_000_000);
      await fn?.();
    },
    {
      minIntervalMs: 1000,
      maxIntervalMs: 30_000,
      retryIntervalMs: 5000,
      clock,
      onError: (e) => errors.push(e),
    },
  );
  return { clock, starts, errors, runner };
}

describe('BoundedFrequencyRunner', () => {
  it('runs at once on the first request after a quiet spell', async () => {
    const { clock, starts, runner } = setup();
    runner.run();
    await clock.advance(0);
    assert.deepEqual(starts, [0]);
    await clock.advance(10_000);
    runner.run();
    await clock.advance(0);
    assert.deepEqual(starts, [0, 10_000]);
  });

  it('runs at most once per min interval, merging requests', async () => {
    const { clock, starts, runner } = setup();
    runner.run();
    await clock.advance(100);
    runner.run();
    runner.run();
    await clock.advance(300);
    runner.run();
    assert.deepEqual(starts, [0]);
    await clock.advance(600); // t = 1000
    assert.deepEqual(starts, [0, 1000]);
    await clock.advance(5000);
    assert.deepEqual(starts, [0, 1000], 'no request, no run before the max interval');
  });

  it('runNow() runs within the min interval, but never beside a run in progress', async () => {
    let release: () => void = () => {};
    let block = false;
    const { clock, starts, runner } = setup(async () => {
      if (block) await new Promise<void>((resolve) => (release = resolve));
    });
    runner.run();
    await clock.advance(0);
    await clock.advance(100);
    runner.run();
    await clock.advance(0);
    assert.deepEqual(starts, [0], 'run() waits for the min interval');
    runner.runNow();
    await clock.advance(0);
    assert.deepEqual(starts, [0, 100], 'runNow() does not');
    block = true;
    runner.runNow();
    await clock.advance(0);
    assert.deepEqual(starts, [0, 100, 100]);
    runner.runNow();
    await clock.advance(0);
    assert.deepEqual(starts, [0, 100, 100], 'not beside the run in progress');
    block = false;
    release();
    await clock.advance(0);
    await clock.advance(0);
    assert.deepEqual(starts, [0, 100, 100, 100], 'right after it');
  });

  it('runs at least once per max interval after the first run, and not before the first run', async () => {
    const { clock, starts, runner } = setup();
    await clock.advance(100_000);
    assert.deepEqual(starts, [], 'no periodic run before anything asked');
    runner.run();
    await clock.advance(61_000);
    assert.deepEqual(starts, [100_000, 130_000, 160_000]);
  });

  it('never runs twice at once; a request during a run gives one more run after it', async () => {
    let release: () => void = () => {};
    let active = 0;
    let maxActive = 0;
    const { clock, starts, runner } = setup(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      active--;
    });
    runner.run();
    await clock.advance(0);
    await clock.advance(2000); // the run is still going
    runner.run();
    runner.run();
    await clock.advance(2000);
    assert.deepEqual(starts, [0]);
    release();
    await clock.advance(0);
    assert.deepEqual(starts, [0, 4000], 'the merged request runs as soon as the first run ends');
    release();
    await clock.advance(10_000);
    assert.equal(starts.length, 2);
    assert.equal(maxActive, 1);
  });

  it('retries a failed run after the retry interval', async () => {
    let fail = true;
    const { clock, starts, errors, runner } = setup(async () => {
      if (fail) throw new Error('Sync failed: boom');
    });
    runner.run();
    await clock.advance(0);
    assert.equal(errors.length, 1);
    fail = false;
    await clock.advance(4999);
    assert.deepEqual(starts, [0]);
    await clock.advance(1);
    assert.deepEqual(starts, [0, 5000]);
    assert.equal(errors.length, 1);
  });

  it('stop() cancels what is scheduled and waits for the run in progress', async () => {
    const { clock, starts, runner } = setup();
    runner.run();
    await clock.advance(0);
    runner.run();
    await runner.stop();
    await clock.advance(100_000);
    assert.deepEqual(starts, [0]);
    assert.equal(clock.pendingTimers, 0);
  });
});
