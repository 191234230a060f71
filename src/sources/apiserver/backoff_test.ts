import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('doubles from the initial delay up to the maximum', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 500, factor: 2, jitter: 0 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => b.next()),
      [100, 200, 400, 500, 500, 500],
    );
    assert.equal(b.failures, 6);
  });

  it('starts over after a reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 500, factor: 2, jitter: 0 });
    b.next();
    b.next();
    b.reset();
    assert.equal(b.next(), 100);
  });

  it('adds up to jitter times the delay at random', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 500, factor: 2, jitter: 1 }, () => 0);
    const high = new Backoff({ initialMs: 100, maxMs: 500, factor: 2, jitter: 1 }, () => 0.999);
    assert.equal(low.next(), 100);
    assert.equal(high.next(), 200);
  });
});
