/**
 * The interleaving of the scale section's measurements: direct connects (to the endpoint, which no service
 * rule matches) and VIP connects in alternating batches within the same time window, so that a shared
 * machine's drift (another job, a frequency change) hits both figures alike instead of only one of them,
 * as it did when the direct figure was taken before kproxy started, minutes away.
 *
 * @module
 */

/** What one batch measures: the endpoint directly, or the service's VIP. */
export type Leg = 'direct' | 'vip';

/**
 * The order of the batches: `rounds` rounds of one direct and one VIP batch, the order alternating from
 * round to round (direct first in even rounds), so that neither leg always runs just after the other.
 *
 * @param rounds how many rounds (0 or more)
 * @returns the legs in the order they run, `2 × rounds` of them
 * @example interleavedOrder(2) // ['direct', 'vip', 'vip', 'direct']
 */
export function interleavedOrder(rounds: number): Leg[] {
  if (!Number.isInteger(rounds) || rounds < 0) throw new Error(`Invalid number of rounds: ${rounds}`);
  const order: Leg[] = [];
  for (let r = 0; r < rounds; r++)
    order.push(...(r % 2 === 0 ? (['direct', 'vip'] as const) : (['vip', 'direct'] as const)));
  return order;
}

/**
 * How many connects each batch counts, so that each leg gets about `total` over `rounds` batches.
 *
 * @param total the counted connects wanted per leg
 * @param rounds the rounds
 * @returns connects per batch, at least 1
 * @example connectsPerBatch(1000, 10) // 100
 */
export function connectsPerBatch(total: number, rounds: number): number {
  return Math.max(1, Math.ceil(total / Math.max(1, rounds)));
}

/** What {@link runInterleaved} returns: every batch's result per leg, in the order they ran. */
export interface InterleavedResults<T> {
  readonly direct: T[];
  readonly vip: T[];
}

/**
 * Runs `measure` once per batch of {@link interleavedOrder}, one after the other.
 *
 * @param rounds how many rounds
 * @param measure measures one batch of a leg (`round` counts from 0)
 * @returns the results per leg
 * @example await runInterleaved(10, (leg) => probe.measure(leg === 'vip' ? vipRequest : directRequest))
 */
export async function runInterleaved<T>(
  rounds: number,
  measure: (leg: Leg, round: number) => Promise<T>,
): Promise<InterleavedResults<T>> {
  const out: InterleavedResults<T> = { direct: [], vip: [] };
  const order = interleavedOrder(rounds);
  for (const [i, leg] of order.entries()) out[leg].push(await measure(leg, Math.floor(i / 2)));
  return out;
}
