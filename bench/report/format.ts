/**
 * Number formatting for the benchmark's Markdown report: readable magnitudes, medians with their spread,
 * and ratios.
 *
 * @module
 */
import type { Summary } from './stats.ts';

/**
 * A measured number, rounded to what the noise allows: integers with thousands separators from 100 up,
 * one decimal from 10, two below.
 *
 * @param n the number
 * @returns its text
 * @example formatNumber(12345.6) // '12,346'; formatNumber(3.25159) // '3.25'
 */
export function formatNumber(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 100) return Math.round(n).toLocaleString('en-US');
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/**
 * A median with its spread: `median (min–max)`, or the median alone for a single sample.
 *
 * @param s the summary
 * @returns its text
 * @example formatSummary({ samples: [1, 2, 3], median: 2, min: 1, max: 3 }) // '2.00 (1.00–3.00)'
 */
export function formatSummary(s: Summary): string {
  if (s.samples.length < 2) return formatNumber(s.median);
  return `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)})`;
}

/**
 * A ratio to a baseline: `0.53×`, or `–` when there is none.
 *
 * @param r the ratio
 * @returns its text
 * @example formatRatio(0.5312) // '0.53×'
 */
export function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`;
}

/**
 * Escapes text for a Markdown table cell (pipes and line breaks would break the table).
 *
 * @param text any text
 * @returns cell-safe text
 * @example cell('a|b\nc') // 'a\\|b c'
 */
export function cell(text: string): string {
  return text.replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ');
}
