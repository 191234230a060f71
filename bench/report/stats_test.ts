import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, quantile, ratio, summarize } from './stats.ts';

describe('median', () => {
  it('is the middle sample of an odd count, whatever the order', () => {
    assert.equal(median([5, 1, 3]), 3);
  });
  it('is the mean of the two middle samples of an even count', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });
  it('is the sample itself for one sample', () => {
    assert.equal(median([7]), 7);
  });
  it('refuses no samples and non-finite samples', () => {
    assert.throws(() => median([]), RangeError);
    assert.throws(() => median([1, Number.NaN]), /Not a finite sample: NaN/);
  });
});

describe('quantile', () => {
  it('interpolates between closest ranks', () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    assert.equal(quantile(values, 0.99), 99);
    assert.equal(quantile([10, 20], 0.25), 12.5);
    assert.equal(quantile([3, 1, 2], 0), 1);
    assert.equal(quantile([3, 1, 2], 1), 3);
  });
  it('refuses a quantile outside 0-1', () => {
    assert.throws(() => quantile([1], 1.5), /Quantile out of range: 1.5/);
  });
});

describe('summarize', () => {
  it('keeps the raw samples in order with median and spread', () => {
    assert.deepEqual(summarize([10, 30, 20]), { samples: [10, 30, 20], median: 20, min: 10, max: 30 });
  });
  it('does not sort the caller array', () => {
    const samples = [3, 1, 2];
    summarize(samples);
    assert.deepEqual(samples, [3, 1, 2]);
  });
});

describe('ratio', () => {
  it('divides medians', () => {
    assert.equal(ratio(summarize([1, 50, 60]), summarize([100, 100, 90])), 0.5);
  });
  it('is undefined without a usable baseline', () => {
    assert.equal(ratio(summarize([1]), undefined), undefined);
    assert.equal(ratio(undefined, summarize([1])), undefined);
    assert.equal(ratio(summarize([1]), summarize([0])), undefined);
  });
});
