import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoDuration, parseGoDuration } from './go_duration.ts';

describe('Go durations', () => {
  it('parses what metav1.Duration accepts, and nothing else', () => {
    const cases: [string, number | undefined][] = [
      ['0', 0],
      ['0s', 0],
      ['30s', 30_000],
      ['1m0s', 60_000],
      ['1h0m0s', 3_600_000],
      ['24h0m0s', 86_400_000],
      ['250ms', 250],
      ['1.5s', 1500],
      ['-1s', -1000],
      ['100us', 0.1],
      ['30', undefined],
      ['', undefined],
      ['1d', undefined],
      ['s', undefined],
      ['1s ', undefined],
    ];
    for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
  });
  it("formats as Go's time.Duration.String()", () => {
    const cases: [number, string][] = [
      [0, '0s'],
      [250, '250ms'],
      [1000, '1s'],
      [1500, '1.5s'],
      [30_000, '30s'],
      [60_000, '1m0s'],
      [900_000, '15m0s'],
      [3_600_000, '1h0m0s'],
      [86_400_000, '24h0m0s'],
      [-1000, '-1s'],
      [0.1, '100µs'],
    ];
    for (const [ms, text] of cases) {
      assert.equal(formatGoDuration(ms), text, String(ms));
      assert.equal(parseGoDuration(text), ms, text);
    }
  });
});
