/**
 * Figures derived from the scale series that the tables, the plots and the target checks share: a series'
 * name, a sync's duration as the daemon's metrics (or, failing them, its log) report it, and how a mode's
 * first-packet rate holds up as services are added, against its own rate at the smallest size.
 *
 * @module
 */
import type { ScalePoint, ScaleSeries } from './results.ts';

/**
 * A scale series' mode with what programs its packet path, as the tables name it.
 *
 * @param s the series
 * @returns e.g. `iptables (legacy)`, `nftables`, `ipvs (IPVS)`
 * @example scaleModeLabel({ mode: 'iptables', iptablesBackend: 'nft', ... }) // 'iptables (nft)'
 */
export function scaleModeLabel(s: Pick<ScaleSeries, 'mode' | 'iptablesBackend'>): string {
  switch (s.mode) {
    case 'iptables':
      return `iptables (${s.iptablesBackend})`;
    case 'nftables':
      return 'nftables';
    case 'ipvs':
      return 'ipvs (IPVS)';
    default: {
      const never: never = s.mode;
      throw new Error(`Unknown scale mode: ${String(never)}`);
    }
  }
}

/** Which of a point's two syncs. */
export type SyncWhich = 'first' | 'change';

/** A sync's duration, ms, and where the figure comes from. */
export interface SyncFigure {
  readonly ms: number;
  /** `metric`: the daemon's sync-duration histogram; `log`: its "Synced proxy rules" line (rounded to ms). */
  readonly source: 'metric' | 'log';
}

/**
 * One of a point's syncs: the daemon's histogram when it isolated that sync, else its log line (the same
 * clock, rounded to the millisecond).
 *
 * @param p the point
 * @param which the first (full) sync, or the one-endpoint change
 * @returns the duration and its source
 * @example syncFigure(point, 'change') // { ms: 12.4, source: 'metric' }
 */
export function syncFigure(p: ScalePoint, which: SyncWhich): SyncFigure {
  const metric = which === 'first' ? p.metricFirstSyncMs : p.metricChangeSyncMs;
  if (metric !== undefined) return { ms: metric, source: 'metric' };
  return { ms: which === 'first' ? p.firstSyncMs : p.changeSyncMs, source: 'log' };
}

/** A mode's first-packet rate at one size, relative to the same mode at its smallest size. */
export interface RateScalingPoint {
  readonly services: number;
  /** Sequential connects: connect time at the smallest size ÷ connect time here (medians). */
  readonly sequential: number;
  /** New connections/s under load (wrk) here ÷ at the smallest size; undefined without wrk runs. */
  readonly underLoad: number | undefined;
}

/** How a series' first-packet rate holds up as services are added. */
export interface RateScaling {
  /** The smallest size measured: every ratio is against it. */
  readonly baseServices: number;
  readonly points: readonly RateScalingPoint[];
}

/**
 * The first-packet rate of a series at every size against its rate at the smallest size (the issue's
 * "new connections/s to the last-added of 10k services ≥ 0.9× of the same at 100"): for sequential
 * connects the rate is the inverse of the connect time; under load it is wrk's new connections/s.
 *
 * @param s the series
 * @returns the ratios, or undefined when the series has no point
 * @example rateScaling(series)?.points.at(-1)?.sequential // 0.93
 */
export function rateScaling(s: ScaleSeries): RateScaling | undefined {
  const sorted = [...s.points].sort((a, b) => a.services - b.services);
  const base = sorted[0];
  if (base === undefined) return undefined;
  const baseRate = base.connectionsPerSecond?.median;
  return {
    baseServices: base.services,
    points: sorted.map((p) => ({
      services: p.services,
      sequential: base.connectUs.median / p.connectUs.median,
      underLoad:
        baseRate === undefined || baseRate === 0 || p.connectionsPerSecond === undefined
          ? undefined
          : p.connectionsPerSecond.median / baseRate,
    })),
  };
}
