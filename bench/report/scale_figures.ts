/**
 * Figures derived from the scale series that the tables, the plots and the target checks share: a series'
 * name, a sync's duration as the daemon's metrics (or, failing them, its log) report it, and how a mode's
 * first-packet rate holds up as services are added, against its own rate at the smallest size.
 *
 * @module
 */
import type { ScalePoint, ScaleSeries } from './results.ts';
import { ratio, type Summary } from './stats.ts';

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

/** The direct connection a point's VIP figures are compared with, and where it comes from. */
export interface DirectFigures {
  /** Connect time, µs. */
  readonly connectUs: Summary;
  /** New connections/s (wrk), when measured. */
  readonly connectionsPerSecond: Summary | undefined;
  /**
   * `same window`: interleaved with the VIP batches after kproxy's first sync (current results);
   * `before kproxy`: measured before kproxy started, minutes away (older results, which have nothing else).
   */
  readonly when: 'same window' | 'before kproxy';
}

/**
 * The direct figures a point's VIP figures are taken against: those of the same time window when the point
 * has them, else (older results) those measured before kproxy started.
 *
 * @param p the point
 * @returns the direct connect time and rate, and when they were measured
 * @example directFigures(point).when // 'same window'
 */
export function directFigures(p: ScalePoint): DirectFigures {
  if (p.directConnectUs !== undefined) {
    return {
      connectUs: p.directConnectUs,
      connectionsPerSecond: p.directConnectionsPerSecond,
      when: 'same window',
    };
  }
  return {
    connectUs: p.baselineConnectUs,
    connectionsPerSecond: p.baselineConnectionsPerSecond,
    when: 'before kproxy',
  };
}

/**
 * What the rules add to a connect to the service, µs: VIP median − direct median (see {@link directFigures}).
 *
 * @param p the point
 * @returns the difference of the medians (negative: within the noise)
 * @example addedByRulesUs(point) // 11.2
 */
export function addedByRulesUs(p: ScalePoint): number {
  return p.connectUs.median - directFigures(p).connectUs.median;
}

/**
 * A mode's first-packet rate at one size, relative to the same mode at its smallest size. Each size's rate
 * is first taken against its direct connection (interleaved with the VIP connects in the same time window;
 * in older results, measured just before kproxy started), so that the drift of a shared machine between
 * runs minutes apart does not count as the rules' cost; the raw ratios are kept.
 */
export interface RateScalingPoint {
  readonly services: number;
  /** Sequential connects: (direct ÷ VIP connect time) here ÷ the same at the smallest size (medians). */
  readonly sequential: number;
  /** New connections/s under load (wrk): (VIP ÷ direct) here ÷ the same at the smallest size; undefined without wrk runs. */
  readonly underLoad: number | undefined;
  /** The same without the direct connections: VIP figures here ÷ VIP figures at the smallest size. */
  readonly rawSequential: number;
  readonly rawUnderLoad: number | undefined;
  /**
   * Direct connect time here ÷ at the smallest size: above 1, the direct path itself got slower, from
   * drift or (same-window directs, after kproxy's sync) from rules every connection through the node walks
   * before it is known not to be a service's, which the ratios above then do not count.
   */
  readonly directSlowdown: number;
  /** The same for the direct wrk runs: their conn/s at the smallest size ÷ here (undefined without wrk runs). */
  readonly directRateSlowdown: number | undefined;
  /** Whether both this size's and the smallest size's direct figures come from their own VIP window. */
  readonly sameWindow: boolean;
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
 * connects the rate is the inverse of the connect time; under load it is wrk's new connections/s; each
 * against its direct connection ({@link directFigures}; see {@link RateScalingPoint}).
 *
 * @param s the series
 * @returns the ratios, or undefined when the series has no point
 * @example rateScaling(series)?.points.at(-1)?.sequential // 0.93
 */
export function rateScaling(s: ScaleSeries): RateScaling | undefined {
  const sorted = [...s.points].sort((a, b) => a.services - b.services);
  const base = sorted[0];
  if (base === undefined) return undefined;
  // Sequential rates are inverse connect times: the rate ratio of b to a is a's time over b's.
  const sequentialRate = (p: ScalePoint) => directFigures(p).connectUs.median / p.connectUs.median;
  const loadRate = (p: ScalePoint) => ratio(p.connectionsPerSecond, directFigures(p).connectionsPerSecond);
  const baseLoad = loadRate(base);
  const baseDirect = directFigures(base);
  return {
    baseServices: base.services,
    points: sorted.map((p) => {
      const load = loadRate(p);
      return {
        services: p.services,
        sequential: sequentialRate(p) / sequentialRate(base),
        underLoad: load === undefined || !baseLoad ? undefined : load / baseLoad,
        rawSequential: base.connectUs.median / p.connectUs.median,
        rawUnderLoad: ratio(p.connectionsPerSecond, base.connectionsPerSecond),
        directSlowdown: directFigures(p).connectUs.median / baseDirect.connectUs.median,
        directRateSlowdown: ratio(baseDirect.connectionsPerSecond, directFigures(p).connectionsPerSecond),
        sameWindow: directFigures(p).when === 'same window' && baseDirect.when === 'same window',
      };
    }),
  };
}
