/**
 * Durations as Kubernetes' configuration files spell them (Go's `time.ParseDuration` and
 * `time.Duration.String()`): `30s`, `1m0s`, `24h0m0s`, `250ms`, `-1s`. kube-proxy's `metav1.Duration`
 * fields accept only this syntax, so a bare number is not a duration here (unlike the command line's
 * convenience in `../duration.ts`).
 *
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration.
 *
 * @param text e.g. `1h0m0s`, `250ms`, `-1s`, `0`
 * @returns milliseconds (may be fractional or negative), or undefined when `text` is not a Go duration
 * @example parseGoDuration('1m30s') // 90000
 */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)(.*)$/s.exec(text);
  const sign = m?.[1] === '-' ? -1 : 1;
  const rest = m?.[2] ?? '';
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < rest.length) {
    part.lastIndex = index;
    const match = part.exec(rest);
    if (match === null) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
    index = part.lastIndex;
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

function trimFraction(value: number, digits: number): string {
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

/**
 * Formats milliseconds as Go's `time.Duration.String()` does, so that a written configuration reads like
 * the one kube-proxy writes (`15m0s`, `24h0m0s`, `250ms`, `0s`).
 *
 * @param ms milliseconds
 * @returns the Go spelling
 * @example formatGoDuration(86_400_000) // '24h0m0s'
 */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatGoDuration(-ms)}`;
  if (ms < 1e-3) return `${trimFraction(ms * 1e6, 0)}ns`;
  if (ms < 1) return `${trimFraction(ms * 1e3, 3)}µs`;
  if (ms < 1000) return `${trimFraction(ms, 6)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = trimFraction((ms % 60_000) / 1000, 9);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
