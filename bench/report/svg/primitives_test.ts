import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeXml, formatTick, niceTicks, seriesColor } from './primitives.ts';

describe('niceTicks', () => {
  it('covers the range with steps of 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual(niceTicks(0, 87), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(0, 1.2), [0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]);
    assert.deepEqual(niceTicks(0.25, 0.9, 4), [0.2, 0.4, 0.6, 0.8, 1]);
  });
  it('starts at or below the minimum for ranges not starting at zero', () => {
    const ticks = niceTicks(130, 470);
    assert.equal(ticks[0], 100);
    assert.equal(ticks.at(-1), 500);
  });
  it('widens an empty range', () => {
    assert.deepEqual(niceTicks(0, 0), [0, 1]);
    const ticks = niceTicks(10, 10);
    assert.ok(ticks[0]! < 10 && ticks.at(-1)! > 10);
  });
  it('refuses a reversed or non-finite range', () => {
    assert.throws(() => niceTicks(2, 1), /Bad tick range: 2..1/);
    assert.throws(() => niceTicks(0, Number.POSITIVE_INFINITY), RangeError);
  });
});

describe('formatTick', () => {
  it('abbreviates thousands and millions', () => {
    assert.equal(formatTick(1000), '1k');
    assert.equal(formatTick(2500), '2.5k');
    assert.equal(formatTick(10_000), '10k');
    assert.equal(formatTick(3_000_000), '3M');
  });
  it('keeps three significant digits for small values', () => {
    assert.equal(formatTick(0.30000000000000004), '0.3');
    assert.equal(formatTick(123.456), '123');
    assert.equal(formatTick(0), '0');
  });
});

describe('escapeXml', () => {
  it('escapes markup and quotes', () => {
    assert.equal(escapeXml(`a<b & "c" 'd'>`), 'a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;');
  });
});

describe('seriesColor', () => {
  it('wraps around the palette', () => {
    assert.equal(seriesColor(0), seriesColor(8));
    assert.notEqual(seriesColor(0), seriesColor(1));
  });
});
