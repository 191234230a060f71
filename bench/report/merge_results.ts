/**
 * Merges the sections of a later run into an earlier results file (`bench/run.ts --merge FILE`), e.g. when
 * one section could not run the first time: what the later run measured replaces that section's figures,
 * everything else stays, and the merge is recorded in the file (when, which sections, the load then).
 * A later run limited by `--modes`/`--sizes` replaces only its own rows: the scale points of the same mode,
 * place and size (and the plan series of the same mode), keeping every other row of the earlier run.
 *
 * @module
 */
import type {
  BenchResults,
  MergedRun,
  NotMeasured,
  Place,
  PlanSeries,
  ScaleSeries,
  Section,
} from './results.ts';

/** What a later run was limited to (`bench/run.ts --modes`, `--sizes`); absent: everything. */
export interface MergeScope {
  readonly modes?: readonly string[] | undefined;
  readonly sizes?: readonly number[] | undefined;
}

/**
 * What a scale series that was not measured is called in `notMeasured` (run.ts writes it, the merge
 * matches it).
 *
 * @param mode the mode
 * @param place where
 * @returns e.g. `first packet and syncs, nftables (host)`
 * @example scaleNotMeasuredWhat('nftables', 'host')
 */
export function scaleNotMeasuredWhat(mode: string, place: string): string {
  return `first packet and syncs, ${mode} (${place})`;
}

/**
 * What a plan series that was not measured is called in `notMeasured`.
 *
 * @param mode the mode
 * @returns e.g. `plan + render, nftables`
 * @example planNotMeasuredWhat('ipvs')
 */
export function planNotMeasuredWhat(mode: string): string {
  return `plan + render, ${mode}`;
}

/**
 * Replaces the given sections of `base` with those of `later` (only the rows of `scope`, when given).
 *
 * @param base the earlier results
 * @param later a run of (at least) `sections`
 * @param sections the sections `later` ran
 * @param scope what `later` was limited to: then only its rows are replaced (see the module's comment)
 * @returns the merged results (base's date and machine; `merged` says what came later)
 * @throws {Error} when a scale series to merge row by row used another iptables backend than the earlier one
 * @example mergeResults(old, rerun, new Set(['scale']), { modes: ['nftables'], sizes: [10_000] })
 */
export function mergeResults(
  base: BenchResults,
  later: BenchResults,
  sections: ReadonlySet<Section>,
  scope: MergeScope = {},
): BenchResults {
  const partial = scope.modes !== undefined || scope.sizes !== undefined;
  const takeData = (place: Place, section: Section) =>
    (sections.has(section) ? later : base).dataPath.filter((r) => r.place === place);
  const takeScale = (place: 'host' | 'guest', section: Section) =>
    (sections.has(section) ? later : base).scale.filter((s) => s.place === place);
  const hostScale =
    partial && sections.has('scale')
      ? mergeScaleRows(
          base.scale.filter((s) => s.place === 'host'),
          later.scale.filter((s) => s.place === 'host'),
        )
      : takeScale('host', 'scale');
  const plan = !sections.has('plan')
    ? base.plan
    : scope.modes === undefined
      ? later.plan
      : mergePlanSeries(base.plan, later.plan);
  const record: MergedRun = {
    date: later.date,
    sections: [...sections],
    load: later.machine.loadAverage,
    ...(scope.modes === undefined ? {} : { modes: [...scope.modes] }),
    ...(scope.sizes === undefined ? {} : { sizes: [...scope.sizes] }),
  };
  return {
    ...base,
    durationMs: base.durationMs + later.durationMs,
    dataPath: [...takeData('host', 'data'), ...takeData('host-ipv6', 'data6'), ...takeData('guest', 'guest')],
    scale: [...hostScale, ...takeScale('guest', 'guest')],
    plan,
    iptablesScale: sections.has('iptables-scale') ? later.iptablesScale : base.iptablesScale,
    guest: sections.has('guest') ? later.guest : base.guest,
    notMeasured: mergeNotMeasured(base, later, sections, partial),
    merged: [...(base.merged ?? []), record],
  };
}

/**
 * Scale series merged row by row: a later point (or failure) replaces the earlier point or failure of the
 * same mode and size; the earlier rows of other sizes and modes stay; sizes ascending.
 */
function mergeScaleRows(base: readonly ScaleSeries[], later: readonly ScaleSeries[]): ScaleSeries[] {
  const merged = base.map((earlier) => {
    const again = later.find((s) => s.mode === earlier.mode);
    if (again === undefined) return earlier;
    if (again.iptablesBackend !== earlier.iptablesBackend && earlier.mode !== 'nftables') {
      throw new Error(
        `Cannot merge ${earlier.mode} rows measured with --iptables-backend ${again.iptablesBackend} into rows measured with ${earlier.iptablesBackend}`,
      );
    }
    const redone = new Set([...again.points, ...again.failures].map((r) => r.services));
    const kept = <T extends { services: number }>(rows: readonly T[]) =>
      rows.filter((r) => !redone.has(r.services));
    return {
      ...earlier,
      points: [...kept(earlier.points), ...again.points].sort((a, b) => a.services - b.services),
      failures: [...kept(earlier.failures), ...again.failures].sort((a, b) => a.services - b.services),
    };
  });
  return [...merged, ...later.filter((s) => !base.some((earlier) => earlier.mode === s.mode))];
}

/** Plan series merged by mode: a later series replaces the earlier one of its mode. */
function mergePlanSeries(base: readonly PlanSeries[], later: readonly PlanSeries[]): PlanSeries[] {
  return [
    ...base.map((earlier) => later.find((s) => s.mode === earlier.mode) ?? earlier),
    ...later.filter((s) => !base.some((earlier) => earlier.mode === s.mode)),
  ];
}

/**
 * What was not measured: a whole merged section's entries come from the later run; in a row-by-row merge,
 * an earlier entry goes only when the later run measured that series (the later run lists only what it
 * tried and missed).
 */
function mergeNotMeasured(
  base: BenchResults,
  later: BenchResults,
  sections: ReadonlySet<Section>,
  partial: boolean,
): NotMeasured[] {
  const fromLater = later.notMeasured.filter((n) => n.section !== undefined && sections.has(n.section));
  if (!partial) {
    return [
      ...base.notMeasured.filter((n) => n.section === undefined || !sections.has(n.section)),
      ...fromLater,
    ];
  }
  const redone = new Set([
    ...later.scale.filter((s) => s.points.length > 0).map((s) => scaleNotMeasuredWhat(s.mode, s.place)),
    ...later.plan.filter((s) => s.points.length > 0).map((s) => planNotMeasuredWhat(s.mode)),
    ...fromLater.map((n) => n.what),
  ]);
  const rowWise = (n: NotMeasured) => n.section === 'scale' || n.section === 'plan';
  return [
    ...base.notMeasured.filter(
      (n) => n.section === undefined || !sections.has(n.section) || (rowWise(n) && !redone.has(n.what)),
    ),
    ...fromLater,
  ];
}
