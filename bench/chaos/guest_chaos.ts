/**
 * The ipvs mode's chaos runs, in the qemu guest (the host kernel has no IPVS; see docs/guest-kernel.md):
 * `npm run chaos` starts itself in the guest with `--in-guest --modes ipvs`, which runs the same lab there
 * and prints its runs as one line `KPT-CHAOS-RESULT [...]` on stdout instead of writing the report.
 *
 * The guest kernel is emulated (TCG, one CPU): its traffic rates are far below the host's and compare only
 * with each other; what carries over is whether a fault loses connections, and for how long.
 *
 * @module
 */
import { runInGuest } from '../../src/lab/guest/run_in_guest.ts';
import { nodeModuleArgv } from '../../src/lab/node_child.ts';
import type { ChaosRunResult } from './report.ts';
import type { FaultName } from './schedule.ts';

/** The marker of the result line the guest prints. */
export const CHAOS_RESULT_MARKER = 'KPT-CHAOS-RESULT ';

const RUN = new URL('./run.ts', import.meta.url).href;

/**
 * Finds the runs in the guest's stdout.
 *
 * @param stdout what the guest printed
 * @returns the runs, or undefined when there is no result line
 * @example parseGuestChaos('noise\nKPT-CHAOS-RESULT []\n') // []
 */
export function parseGuestChaos(stdout: string): ChaosRunResult[] | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(CHAOS_RESULT_MARKER));
  return line === undefined
    ? undefined
    : (JSON.parse(line.slice(CHAOS_RESULT_MARKER.length)) as ChaosRunResult[]);
}

/**
 * Runs faults in the ipvs mode inside the guest.
 *
 * @param faults the faults
 * @param options phase lengths, sync period, a bound on the whole guest run
 * @returns the runs (each run's own error when it failed)
 * @throws {Error} when the guest cannot run or reports nothing
 * @example await runChaosInGuest(['kill9'], { quick: true, syncPeriodMs: 2000, timeoutMs: 600_000 })
 */
export async function runChaosInGuest(
  faults: readonly FaultName[],
  options: {
    readonly quick: boolean;
    readonly syncPeriodMs: number;
    readonly attemptTimeoutMs?: number | undefined;
    readonly timeoutMs: number;
  },
): Promise<ChaosRunResult[]> {
  const args = [
    '--in-guest',
    '--modes',
    'ipvs',
    '--faults',
    faults.join(','),
    '--sync-period',
    `${options.syncPeriodMs}ms`,
    ...(options.attemptTimeoutMs === undefined ? [] : ['--attempt-timeout', `${options.attemptTimeoutMs}ms`]),
    ...(options.quick ? ['--quick'] : []),
  ];
  // Two CPUs: the lab starts its three identity servers at once (Node with tsx: ~3.5 s of CPU each under
  // TCG, ~6 s for the three on two idle CPUs); the start-up waits are longer in the guest (run.ts).
  const result = await runInGuest(nodeModuleArgv(RUN, args), {
    timeoutMs: options.timeoutMs,
    memoryMb: 1536,
    cpus: 2,
  });
  const runs = parseGuestChaos(result.stdout);
  if (runs === undefined) {
    const tail = result.stderr.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`The guest chaos run reported nothing (exit ${result.code}): ${tail}`);
  }
  return runs;
}
