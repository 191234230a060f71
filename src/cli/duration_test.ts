import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('reads kube-proxy (Go) durations', () => {
    assert.equal(parseDuration('1s'), 1000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('30'), 30_000);
  });
  it('rejects what is not a duration', () => {
    for (const bad of ['', 's', '1x', '1s2', '-1s', '1 s']) {
      assert.throws(() => parseDuration(bad), /Invalid duration/, bad);
    }
  });
});
