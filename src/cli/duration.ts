/**
 * Parses durations as kube-proxy's flags spell them (Go's time.ParseDuration): `1s`, `500ms`, `1m30s`,
 * `2h`. A bare number is taken as seconds, for convenience.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Converts a duration string to milliseconds.
 *
 * @param text e.g. `1m30s`
 * @returns milliseconds
 * @throws Error when the text is not a duration
 * @example parseDuration('1m30s') // 90000
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < trimmed.length) {
    part.lastIndex = index;
    const match = part.exec(trimmed);
    if (match === null) throw new Error(`Invalid duration: "${text}" (use e.g. 500ms, 1s, 1m30s)`);
    total += Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000);
    index = part.lastIndex;
  }
  if (trimmed.length === 0) throw new Error(`Invalid duration: "${text}" (use e.g. 500ms, 1s, 1m30s)`);
  return total;
}
