/**
 * iperf3, the bulk-throughput tool of the data-path benchmark: the arguments of a bounded client run and
 * a parser for its JSON report.
 *
 * @module
 */
import { BenchError } from './bench_error.ts';

/** What an iperf3 client run reports. */
export interface Iperf3Result {
  /** What the receiver got, in bits per second (the figure that matters for a proxy). */
  readonly bitsPerSecond: number;
  readonly bytes: number;
  readonly retransmits: number;
}

/**
 * The command line of a bounded iperf3 client run (one TCP stream, JSON report).
 *
 * @param host server address
 * @param port server port
 * @param seconds test length (1-60)
 * @returns argv for `iperf3`
 * @example iperf3ClientArgv('198.19.0.10', 5201, 3)
 */
export function iperf3ClientArgv(host: string, port: number, seconds: number): string[] {
  if (!/^([0-9.]+|[0-9a-f:]+)$/.test(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Bad iperf3 target: ${host}:${port}`);
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 60) {
    throw new RangeError(`Bad iperf3 duration: ${seconds} s (1-60)`);
  }
  // --connect-timeout bounds a target that does not answer (ms).
  return ['iperf3', '-c', host, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'];
}

/**
 * Parses iperf3's JSON report (`-J`).
 *
 * @param text iperf3's standard output
 * @returns received bits/s, bytes and retransmits
 * @throws {BenchError} when the report is not JSON, or says the test failed
 * @example parseIperf3Json(stdout).bitsPerSecond / 1e9 // Gbit/s
 */
export function parseIperf3Json(text: string): Iperf3Result {
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (error) {
    throw new BenchError(`Cannot read iperf3's report: not JSON: ${text.trim().slice(0, 200)}`, {
      cause: error,
    });
  }
  const r = report as {
    error?: unknown;
    end?: {
      sum_received?: { bits_per_second?: unknown; bytes?: unknown };
      sum_sent?: { retransmits?: unknown };
    };
  };
  if (typeof r.error === 'string') throw new BenchError(`iperf3 failed: ${r.error}`);
  const received = r.end?.sum_received;
  if (typeof received?.bits_per_second !== 'number' || typeof received.bytes !== 'number') {
    throw new BenchError("Cannot read iperf3's report: no end.sum_received");
  }
  const retransmits = r.end?.sum_sent?.retransmits;
  return {
    bitsPerSecond: received.bits_per_second,
    bytes: received.bytes,
    retransmits: typeof retransmits === 'number' ? retransmits : 0,
  };
}
