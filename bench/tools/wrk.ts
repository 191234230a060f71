/**
 * wrk, the HTTP load generator the data-path benchmark drives: the arguments of a bounded run and a parser
 * for its report (requests/s, latency distribution, errors).
 *
 * @module
 */
import { BenchError } from './bench_error.ts';

/** One wrk run. */
export interface WrkOptions {
  /** e.g. `http://198.19.0.10:80/`. */
  readonly url: string;
  readonly durationSeconds: number;
  readonly connections: number;
  readonly threads: number;
  /** Adds `Connection: close`: every request on a new connection (measures new connections/s). */
  readonly newConnectionPerRequest: boolean;
}

/** What a wrk run reports. */
export interface WrkResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  /** The latency distribution, in milliseconds. */
  readonly latencyMs: {
    readonly p50: number;
    readonly p75: number;
    readonly p90: number;
    readonly p99: number;
  };
  /** Socket errors and non-2xx/3xx responses; a clean run has all zeros. */
  readonly errors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly timeout: number;
    readonly status: number;
  };
}

/**
 * The command line of a bounded wrk run (duration and connection count are always given; wrk's own
 * timeout caps a stalled request at 2 s).
 *
 * @param options URL, duration, connections, threads, new connection per request
 * @returns argv for `wrk`
 * @example wrkArgv({ url: 'http://198.18.101.2:8080/', durationSeconds: 3, connections: 16, threads: 1, newConnectionPerRequest: true })
 */
export function wrkArgv(options: WrkOptions): string[] {
  const { durationSeconds: d, connections: c, threads: t } = options;
  if (!(d > 0 && d <= 600 && Number.isInteger(c) && c >= t && c <= 10_000 && Number.isInteger(t) && t >= 1)) {
    throw new RangeError(`Bad wrk run: ${d} s, ${c} connections, ${t} threads`);
  }
  if (!/^http:\/\/([0-9.]+|\[[0-9a-f:]+\]):\d+\/$/.test(options.url))
    throw new RangeError(`Bad wrk URL: ${options.url}`);
  return [
    'wrk',
    `-t${t}`,
    `-c${c}`,
    `-d${d}s`,
    '--timeout',
    '2s',
    '--latency',
    ...(options.newConnectionPerRequest ? ['-H', 'Connection: close'] : []),
    options.url,
  ];
}

/** wrk's latency units in milliseconds (`us` divides, so that 142.00us reads as exactly 0.142). */
function toMs(value: number, unit: string): number {
  return unit === 'us' ? value / 1000 : unit === 's' ? value * 1000 : unit === 'm' ? value * 60_000 : value;
}

/**
 * Parses wrk's report.
 *
 * @param text wrk's standard output
 * @returns requests, requests/s, latency percentiles in ms, errors
 * @throws {BenchError} when the report lacks requests/s or the latency distribution (wrk failed)
 * @example parseWrkOutput(stdout).requestsPerSecond
 */
export function parseWrkOutput(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in /m.exec(text);
  const percentile = (p: number): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    if (m === null) throw new BenchError(`Cannot read wrk's report: no ${p}% latency in ${excerpt(text)}`);
    return toMs(Number(m[1]), m[2]!);
  };
  if (rps === null || total === null) {
    throw new BenchError(`Cannot read wrk's report: no requests/s in ${excerpt(text)}`);
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const status = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    requestsPerSecond: Number(rps[1]),
    latencyMs: { p50: percentile(50), p75: percentile(75), p90: percentile(90), p99: percentile(99) },
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
      status: Number(status?.[1] ?? 0),
    },
  };
}

function excerpt(text: string): string {
  const t = text.trim();
  return JSON.stringify(t.length > 300 ? `${t.slice(0, 300)}...` : t);
}
