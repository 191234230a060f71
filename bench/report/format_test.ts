import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cell, formatNumber, formatRatio, formatSummary } from './format.ts';
import { summarize } from './stats.ts';

describe('formatNumber', () => {
  it('rounds to the precision noise allows', () => {
    assert.equal(formatNumber(12345.6), '12,346');
    assert.equal(formatNumber(123.4), '123');
    assert.equal(formatNumber(12.34), '12.3');
    assert.equal(formatNumber(3.25159), '3.25');
    assert.equal(formatNumber(0.1075), '0.11');
  });
});

describe('formatSummary', () => {
  it('shows the median and the spread of repeated samples', () => {
    assert.equal(formatSummary(summarize([10_000, 12_000, 9_000])), '10,000 (9,000–12,000)');
  });
  it('shows a single sample alone', () => {
    assert.equal(formatSummary(summarize([5])), '5.00');
  });
});

describe('formatRatio', () => {
  it('shows two decimals and a times sign, or a dash without a baseline', () => {
    assert.equal(formatRatio(0.5312), '0.53×');
    assert.equal(formatRatio(undefined), '–');
    assert.equal(formatRatio(Number.POSITIVE_INFINITY), '–');
  });
});

describe('cell', () => {
  it('keeps a table cell on one line and its pipes literal', () => {
    assert.equal(cell('a|b\n  c'), 'a\\|b c');
  });
});
