/**
 * Runs the guest's share of the benchmark (IPVS, which the host kernel lacks) in a qemu guest through
 * the project's harness (src/lab/guest), and reads its results back.
 *
 * @module
 */

import { runInGuest } from '../../src/lab/guest/run_in_guest.ts';
import { nodeModuleArgv } from '../../src/lab/node_child.ts';
import { type GuestConfig, RESULT_MARKER } from '../guest_main.ts';
import type { GuestResults } from '../report/results.ts';
import { BenchError } from '../tools/bench_error.ts';

const GUEST_MAIN = new URL('../guest_main.ts', import.meta.url).href;

/**
 * Finds the result line in the guest's stdout.
 *
 * @param stdout what the guest printed
 * @returns the results, or undefined when there is no result line
 * @example parseGuestOutput('noise\nKPT-BENCH-RESULT {"dataPath":[],...}\n')
 */
export function parseGuestOutput(stdout: string): GuestResults | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  return line === undefined ? undefined : (JSON.parse(line.slice(RESULT_MARKER.length)) as GuestResults);
}

/**
 * Boots the guest, runs guest_main.ts in it, and returns its results and its progress log.
 *
 * @param config what to run in the guest
 * @param options time limit and guest memory
 * @returns the results and the guest's stderr (progress)
 * @throws {BenchError} when the guest cannot boot or reports no result (the reason and log tail attached)
 */
export async function runGuest(
  config: GuestConfig,
  options: { readonly timeoutMs: number; readonly memoryMb: number },
): Promise<{ results: GuestResults; log: string }> {
  let result: Awaited<ReturnType<typeof runInGuest>>;
  try {
    result = await runInGuest(nodeModuleArgv(GUEST_MAIN, [JSON.stringify(config)]), {
      timeoutMs: options.timeoutMs,
      memoryMb: options.memoryMb,
    });
  } catch (error) {
    throw new BenchError(`The guest run failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const results = parseGuestOutput(result.stdout);
  if (results === undefined) {
    const tail = result.stderr.trim().split('\n').slice(-5).join(' | ');
    throw new BenchError(`The guest run reported no result (exit ${result.code}): ${tail}`);
  }
  return { results, log: result.stderr };
}
