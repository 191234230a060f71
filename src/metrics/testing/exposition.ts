/**
 * A reader for the Prometheus text format, for tests that scrape /metrics and check exact values.
 * Private: production code never parses its own exposition.
 *
 * @module
 */

/** Samples keyed by {@link seriesKey}. */
export type Samples = ReadonlyMap<string, number>;

/**
 * The canonical key of a series: the name, then labels sorted by name.
 *
 * @param name metric (or `_bucket`/`_sum`/`_count`) name
 * @param labels label values
 * @returns e.g. `x_bucket{le="0.5",table="nat"}`
 */
export function seriesKey(name: string, labels: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;

/**
 * Parses an exposition into samples.
 *
 * @param text what /metrics returned
 * @returns every sample, keyed by {@link seriesKey}
 * @throws {Error} on a line that is not a comment, blank, or a sample
 */
export function parseExposition(text: string): Samples {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`Not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, raw] of (match[2] ?? '').matchAll(LABEL)) {
      labels[name!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.set(seriesKey(match[1]!, labels), Number(match[3]));
  }
  return samples;
}

/**
 * The `# TYPE` of every metric family in an exposition.
 *
 * @param text what /metrics returned
 * @returns family name → type
 */
export function metricTypes(text: string): ReadonlyMap<string, string> {
  const types = new Map<string, string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(name!, type!);
  return types;
}
