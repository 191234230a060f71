/**
 * The plots of issue 14's targets, host figures only: how each mode's first-packet rate holds up as
 * services are added (line chart, against the mode's own rate at the smallest size, the goal drawn), and
 * the daemon's full and one-endpoint syncs per size (bar charts, the goal at 10k drawn).
 *
 * @module
 */
import { barChartFile, type ChartFile, lineChartFile } from './chart_file.ts';
import { formatNumber, formatRatio } from './format.ts';
import type { ScaleSeries } from './results.ts';
import { rateScaling, type SyncWhich, scaleModeLabel, syncFigure } from './scale_figures.ts';
import type { BarSeries } from './svg/bar_chart.ts';
import type { LineSeries } from './svg/line_chart.ts';
import { GOALS, TARGET_BASE_SERVICES, TARGET_SERVICES } from './targets.ts';

/**
 * New connections/s to the last-added service at each size ÷ the same mode's at its smallest size,
 * sequential and under load, one pair of lines per mode.
 *
 * @param scale every scale series (the host's are drawn)
 * @returns `first-packet-scaling.svg`
 */
export function firstPacketScalingChart(scale: readonly ScaleSeries[]): ChartFile {
  const series: LineSeries[] = [];
  for (const s of scale.filter((x) => x.place === 'host')) {
    const scaling = rateScaling(s);
    const name = scaleModeLabel(s);
    series.push({
      name: `${name}: sequential connects`,
      points: (scaling?.points ?? []).map((p) => ({ x: p.services, y: p.sequential })),
    });
    series.push({
      name: `${name}: under load (wrk)`,
      points: (scaling?.points ?? []).flatMap((p) =>
        p.underLoad === undefined ? [] : [{ x: p.services, y: p.underLoad }],
      ),
    });
  }
  return lineChartFile('first-packet-scaling.svg', {
    title: 'First packet: new connections/s to the last-added service, against the same mode at 100',
    xLabel: 'services (10 endpoints each)',
    yLabel: `rate ÷ the same mode's rate at ${TARGET_BASE_SERVICES} services`,
    xScale: 'log',
    series,
    referenceLine: {
      value: GOALS.firstPacketRatio,
      label: `goal at ${formatNumber(TARGET_SERVICES)} services: ${formatRatio(GOALS.firstPacketRatio)}`,
    },
    note: 'each size ÷ direct in the same window (older results: before kproxy), then ÷ the same at 100; sequential: median connect time (inverted); under load: median wrk conn/s',
    width: 900,
  });
}

/**
 * The daemon's syncs per size and mode (its sync-duration metrics), as two bar charts: the first full
 * sync, and the one-endpoint change.
 *
 * @param scale every scale series (the host's are drawn)
 * @returns `syncs-full.svg` and `syncs-change.svg`
 */
export function syncCharts(scale: readonly ScaleSeries[]): ChartFile[] {
  const host = scale.filter((s) => s.place === 'host');
  const sizes = [...new Set(host.flatMap((s) => s.points.map((p) => p.services)))].sort((a, b) => a - b);
  const chart = (which: SyncWhich, file: string, title: string, goalMs: number): ChartFile => {
    const series: BarSeries[] = host.map((s) => ({
      name: scaleModeLabel(s),
      values: sizes.map((n) => {
        const p = s.points.find((x) => x.services === n);
        return p === undefined ? undefined : { value: syncFigure(p, which).ms };
      }),
    }));
    return barChartFile(file, {
      title,
      yLabel: 'milliseconds (sync-duration metric)',
      groups: sizes.map((n) => `${formatNumber(n)} × 10`),
      series,
      referenceLine: {
        value: goalMs,
        label: `goal at ${formatNumber(TARGET_SERVICES)} × 10: < ${goalMs.toLocaleString('en-US')} ms`,
      },
      width: 820,
    });
  };
  return [
    chart('first', 'syncs-full.svg', 'Full sync (the first) against services (host)', GOALS.fullSyncMs),
    chart('change', 'syncs-change.svg', 'One-endpoint change against services (host)', GOALS.changeSyncMs),
  ];
}
