/**
 * The statistics the benchmark reports: these machines are noisy, so every figure is the median of
 * repeated samples with its spread (min and max), and comparisons are ratios of medians taken in the same
 * run.
 *
 * @module
 */

/** Repeated samples of one measurement, and their median and spread. */
export interface Summary {
  /** The raw samples, in the order they were taken. */
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/**
 * The median of some numbers (the mean of the two middle ones for an even count).
 *
 * @param values at least one finite number
 * @returns the median
 * @throws {RangeError} when `values` is empty or holds a non-finite number
 * @example median([3, 1, 2]) // 2
 */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * A quantile by linear interpolation between closest ranks (numpy's default), e.g. 0.99 for p99.
 *
 * @param values at least one finite number
 * @param q the quantile, 0-1
 * @returns the interpolated value
 * @throws {RangeError} when `values` is empty, holds a non-finite number, or `q` is outside 0-1
 * @example quantile([1, 2, 3, 4], 0.5) // 2.5
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('Cannot take a quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Quantile out of range: ${q} (0-1)`);
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`Not a finite sample: ${v}`);
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower]!;
  return low + (sorted[upper]! - low) * (position - lower);
}

/**
 * Summarizes repeated samples.
 *
 * @param samples at least one finite number
 * @returns the samples with their median, min and max
 * @throws {RangeError} when `samples` is empty or holds a non-finite number
 * @example summarize([10, 30, 20]) // { samples: [10, 30, 20], median: 20, min: 10, max: 30 }
 */
export function summarize(samples: readonly number[]): Summary {
  const m = median(samples);
  return { samples: [...samples], median: m, min: Math.min(...samples), max: Math.max(...samples) };
}

/**
 * The ratio of two medians, or undefined when it means nothing (no baseline, or a zero baseline).
 *
 * @param value the measured summary
 * @param baseline the baseline summary from the same run
 * @returns value.median / baseline.median
 * @example ratio(summarize([50]), summarize([100])) // 0.5
 */
export function ratio(value: Summary | undefined, baseline: Summary | undefined): number | undefined {
  if (value === undefined || baseline === undefined || baseline.median === 0) return undefined;
  return value.median / baseline.median;
}
