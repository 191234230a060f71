/**
 * Runs the lab's client (probe.ts) inside a namespace and reads its one JSON line: what every kernel test
 * that sends real traffic through a lab does.
 *
 * @module
 */
import type { Lab } from './lab.ts';
import { LabError } from './lab_error.ts';
import type { ProbeResult } from './probe.ts';

const PROBE = new URL('./probe.ts', import.meta.url).href;

/**
 * Runs `probe ARGS` in a namespace of the lab.
 *
 * @param lab the lab
 * @param ns one of its namespaces (usually a client's)
 * @param args the probe's arguments (see probe.ts)
 * @param timeoutMs how long the probe may take
 * @returns what the probe saw
 * @example const { names } = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.10', '80', '--count', '6'])
 */
export async function runProbe(
  lab: Pick<Lab, 'runNode'>,
  ns: string,
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<ProbeResult> {
  const result = await lab.runNode(ns, PROBE, args, { signal: AbortSignal.timeout(timeoutMs) });
  if (result.code !== 0) {
    throw new LabError(
      `Probe failed in ${ns} (exit ${result.code}): ${args.join(' ')}: ${result.stderr.trim()}`,
    );
  }
  return JSON.parse(result.stdout) as ProbeResult;
}

/**
 * How often each backend name was seen.
 *
 * @param names the names a probe got, in order
 * @returns a count per name
 * @example countNames(['pod-1', 'pod-2', 'pod-1']) // { 'pod-1': 2, 'pod-2': 1 }
 */
export function countNames(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}
