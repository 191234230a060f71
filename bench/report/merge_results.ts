/**
 * Merges the sections of a later run into an earlier results file (`bench/run.ts --merge FILE`), e.g. when
 * one section could not run the first time: what the later run measured replaces that section's figures,
 * everything else stays, and the merge is recorded in the file (when, which sections, the load then).
 *
 * @module
 */
import type { BenchResults, Section } from './results.ts';

/**
 * Replaces the given sections of `base` with those of `later`.
 *
 * @param base the earlier results
 * @param later a run of (at least) `sections`
 * @param sections the sections `later` ran
 * @returns the merged results (base's date and machine; `merged` says what came later)
 * @example mergeResults(old, rerun, new Set(['guest']))
 */
export function mergeResults(
  base: BenchResults,
  later: BenchResults,
  sections: ReadonlySet<Section>,
): BenchResults {
  const takeData = (place: 'host' | 'guest', section: Section) =>
    (sections.has(section) ? later : base).dataPath.filter((r) => r.place === place);
  const takeScale = (place: 'host' | 'guest', section: Section) =>
    (sections.has(section) ? later : base).scale.filter((s) => s.place === place);
  return {
    ...base,
    durationMs: base.durationMs + later.durationMs,
    dataPath: [...takeData('host', 'data'), ...takeData('guest', 'guest')],
    scale: [...takeScale('host', 'scale'), ...takeScale('guest', 'guest')],
    plan: sections.has('plan') ? later.plan : base.plan,
    iptablesScale: sections.has('iptables-scale') ? later.iptablesScale : base.iptablesScale,
    guest: sections.has('guest') ? later.guest : base.guest,
    notMeasured: [
      ...base.notMeasured.filter((n) => n.section === undefined || !sections.has(n.section)),
      ...later.notMeasured.filter((n) => n.section !== undefined && sections.has(n.section)),
    ],
    merged: [
      ...(base.merged ?? []),
      { date: later.date, sections: [...sections], load: later.machine.loadAverage },
    ],
  };
}
