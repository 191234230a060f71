/**
 * The host side of the chaos lab's client: starts traffic.ts inside a client namespace, and at the end
 * closes its stdin and reads its one-line report.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import type { Lab, LabProcess } from '../../src/lab/lab.ts';
import { BenchError } from '../tools/bench_error.ts';
import type { TrafficReport } from './traffic.ts';

const TRAFFIC = new URL('./traffic.ts', import.meta.url).href;

/** Steady traffic running in a client namespace. */
export interface RunningTraffic {
  /**
   * Stops the traffic and returns what it saw.
   *
   * @throws {BenchError} when the child died or printed no report in time
   */
  finish(): Promise<TrafficReport>;
}

/** Where to send traffic. */
export interface TrafficTarget {
  readonly vip: string;
  readonly tcpPort: number;
  readonly udpPort: number;
  /** Per-attempt timeout (ms). */
  readonly timeoutMs: number;
  /** A hard bound on the child's life (ms), in case the harness never stops it. */
  readonly maxMs: number;
  /** How long the child may take to start (ms). */
  readonly startTimeoutMs: number;
}

/**
 * Starts steady traffic from a namespace and waits until it runs.
 *
 * @param lab the lab
 * @param ns a client namespace
 * @param target VIP, ports, timeouts
 * @returns the running traffic
 * @example const traffic = await startTraffic(lab, lab.clients[0]!.ns, { vip, tcpPort: 80, udpPort: 53, timeoutMs: 1000, maxMs: 120000 })
 */
export async function startTraffic(lab: Lab, ns: string, target: TrafficTarget): Promise<RunningTraffic> {
  const proc: LabProcess = lab.spawnNode(ns, TRAFFIC, [
    '--vip',
    target.vip,
    '--tcp-port',
    String(target.tcpPort),
    '--udp-port',
    String(target.udpPort),
    '--timeout-ms',
    String(target.timeoutMs),
    '--max-ms',
    String(target.maxMs),
  ]);
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-2000);
  });
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: proc.child.stdout! }).on('line', (line) => {
    lines.push(line);
    wake?.();
  });
  void proc.exited.then(() => wake?.());
  const waitFor = async (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        // Let the last lines arrive.
        await new Promise((r) => setTimeout(r, 50));
        if (predicate()) return;
        throw new BenchError(`The traffic child exited before it ${what}: ${stderr.trim()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new BenchError(`The traffic child never ${what} in ${timeoutMs} ms: ${stderr.trim()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  try {
    await waitFor(() => lines.includes('ready'), target.startTimeoutMs, 'started');
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return {
    async finish() {
      proc.child.stdin?.end();
      const report = () => lines.find((l) => l.startsWith('{'));
      try {
        // An attempt in flight takes at most its timeout; the report follows at once (10 s of slack on the
        // host, more where the child started slowly: the emulated guest).
        const slack = Math.max(10_000, target.startTimeoutMs / 2);
        await waitFor(() => report() !== undefined, target.timeoutMs + slack, 'reported');
        return JSON.parse(report()!) as TrafficReport;
      } finally {
        await proc.kill();
      }
    },
  };
}
