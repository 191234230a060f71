/**
 * Reads the daemon's own sync-duration histograms from its /metrics endpoint (inside the lab namespace it
 * runs in), so that the benchmark reports a sync as kproxy's metrics record it: the full-sync and the
 * partial-sync histograms, whose sum and count around one sync give that sync's duration.
 *
 * @module
 */
import type { Lab } from '../../src/lab/lab.ts';
import { BenchError } from './bench_error.ts';

/** The sum (seconds) and count of one histogram. */
export interface HistogramTotals {
  readonly sum: number;
  readonly count: number;
}

/** The daemon's sync-duration histograms, by the kind of sync they record. */
export type SyncDurations = Readonly<Record<'full' | 'partial', HistogramTotals>>;

/** The histograms' names, by kind (upstream's names; kproxy records both in every mode). */
export const SYNC_DURATION_METRICS: Readonly<Record<keyof SyncDurations, string>> = {
  full: 'kubeproxy_sync_full_proxy_rules_duration_seconds',
  partial: 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
};

/**
 * Finds the two histograms' `_sum` and `_count` in a Prometheus text exposition.
 *
 * @param text what /metrics returned
 * @returns their totals
 * @throws {BenchError} when one of the four samples is missing or not a number
 * @example parseSyncDurations(text).partial // { sum: 0.0124, count: 1 }
 */
export function parseSyncDurations(text: string): SyncDurations {
  // A dual-stack daemon labels each family's series (ip_family, as upstream); the benchmarks time IPv4.
  const sample = (name: string): number => {
    const prefixes = [`${name} `, `${name}{ip_family="IPv4"} `];
    const lines = text.split('\n');
    const prefix = prefixes.find((p) => lines.some((l) => l.startsWith(p)));
    const line = prefix === undefined ? undefined : lines.find((l) => l.startsWith(prefix));
    const value = Number(
      line
        ?.slice(prefix?.length ?? 0)
        .trim()
        .split(/\s+/)[0],
    );
    if (line === undefined || !Number.isFinite(value)) {
      throw new BenchError(`The daemon's metrics have no sample ${name}`);
    }
    return value;
  };
  const totals = (name: string): HistogramTotals => ({
    sum: sample(`${name}_sum`),
    count: sample(`${name}_count`),
  });
  return {
    full: totals(SYNC_DURATION_METRICS.full),
    partial: totals(SYNC_DURATION_METRICS.partial),
  };
}

/**
 * The duration of the one sync a histogram recorded between two readings.
 *
 * @param before the totals before (undefined: the daemon's start, nothing recorded)
 * @param after the totals after
 * @returns milliseconds (to the µs), or undefined when the readings span no sync or more than one
 * @example syncBetween({ sum: 0.5, count: 1 }, { sum: 0.5124, count: 2 }) // 12.4
 */
export function syncBetween(before: HistogramTotals | undefined, after: HistogramTotals): number | undefined {
  const count = after.count - (before?.count ?? 0);
  if (count !== 1) return undefined;
  return Math.round((after.sum - (before?.sum ?? 0)) * 1e6) / 1000;
}

/**
 * Reads the daemon's sync-duration histograms through curl in its namespace.
 *
 * @param lab the lab
 * @param ns the namespace kproxy runs in
 * @param address its `--metrics-bind-address`
 * @returns the totals
 * @throws {BenchError} when /metrics does not answer or lacks the histograms
 */
export async function readSyncDurations(lab: Lab, ns: string, address: string): Promise<SyncDurations> {
  const url = `http://${address}/metrics`;
  const r = await lab.exec(ns, ['curl', '-s', '-m', '5', url], { signal: AbortSignal.timeout(10_000) });
  if (r.code !== 0) throw new BenchError(`Cannot read ${url}: curl exit ${r.code} ${r.stderr.trim()}`);
  return parseSyncDurations(r.stdout);
}
