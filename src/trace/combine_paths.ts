/**
 * Combines the paths a traced packet may take into one {@link TraceResult}. Every mode's tracer forks its
 * walk at random choices (iptables `-m statistic`, nftables `numgen`), so a packet ends in several paths,
 * each with its probability; what `kproxy trace` reports of them is decided here once, so that the modes'
 * results compare packet by packet.
 *
 * @module
 */
import type { TraceResult, TraceVerdict } from '../contracts/trace.ts';

/** How one traced path ended. */
export interface TracedPath {
  /** The share of first packets that take this path (the product of the forks' probabilities). */
  readonly probability: number;
  readonly verdict: TraceVerdict;
  /** The `ip:port` the path DNATs to; counted only when the verdict is DNAT. */
  readonly backend: string | undefined;
  /** The path marked the packet for masquerading; a path that ends in DROP or REJECT sends nothing out. */
  readonly masquerade: boolean;
  /** The steps walked, in order. */
  readonly steps: readonly string[];
}

/** Below this, a probability is rounding noise (the sums of forked probabilities are not exact). */
const EPSILON = 1e-12;

/** Ten decimals, as upstream writes probabilities: enough to tell 1/3 apart, and stable in golden text. */
function round(p: number): number {
  return Math.round(p * 1e10) / 1e10;
}

/**
 * Combines the traced paths of one packet: the verdict is the most likely one (the first of equals), the
 * packet is masqueraded when any path that leaves does it, each backend gets its share of the DNATed
 * paths, and the steps of every path are listed once each, in the order first walked. When paths end in
 * different verdicts a last step says how likely each is.
 *
 * @param paths the ends of every path the walk forked into
 * @returns the trace result
 * @example combineTracedPaths([{ probability: 1, verdict: 'DNAT', backend: '10.180.0.1:80', masquerade: false, steps: ['KUBE-SVC-A'] }]).backends // [{ address: '10.180.0.1:80', probability: 1 }]
 */
export function combineTracedPaths(paths: readonly TracedPath[]): TraceResult {
  const byVerdict = new Map<TraceVerdict, number>();
  const backends = new Map<string, number>();
  let dnatTotal = 0;
  let masquerade = false;
  const steps: string[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    byVerdict.set(p.verdict, (byVerdict.get(p.verdict) ?? 0) + p.probability);
    if (p.verdict === 'DNAT' && p.backend !== undefined) {
      backends.set(p.backend, (backends.get(p.backend) ?? 0) + p.probability);
      dnatTotal += p.probability;
    }
    if (p.verdict !== 'DROP' && p.verdict !== 'REJECT' && p.masquerade) masquerade = true;
    for (const step of p.steps) {
      if (!seen.has(step)) {
        seen.add(step);
        steps.push(step);
      }
    }
  }
  let verdict: TraceVerdict = 'NONE';
  let best = -1;
  for (const [v, p] of byVerdict) {
    if (p > best + EPSILON) {
      best = p;
      verdict = v;
    }
  }
  const mixed = [...byVerdict].filter(([, p]) => p > EPSILON);
  if (mixed.length > 1) {
    steps.push(`Verdicts differ by path: ${mixed.map(([v, p]) => `${v} ${round(p)}`).join(', ')}`);
  }
  return {
    verdict,
    masquerade,
    backends: [...backends].map(([address, p]) => ({ address, probability: round(p / dnatTotal) })),
    path: steps,
  };
}
