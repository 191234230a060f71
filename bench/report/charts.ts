/**
 * The plots of the benchmark report, from a results file alone: data-path ratios (bar chart), first-packet
 * connect time against the number of services (line charts: the host's real CPU and the guest's emulated
 * one differ by orders of magnitude, so each gets its own), and sync and plan times against the number of
 * services (line charts, host and guest); the plots of issue 14's targets come from scaling_charts.ts.
 *
 * @module
 */
import { barChartFile, type ChartFile, lineChartFile } from './chart_file.ts';
import type { BenchResults, DataPathMetrics, DataPathResult, Place, ScaleSeries } from './results.ts';
import { directFigures, scaleModeLabel, syncFigure } from './scale_figures.ts';
import { firstPacketScalingChart, syncCharts } from './scaling_charts.ts';
import { quantile, ratio } from './stats.ts';
import type { BarSeries } from './svg/bar_chart.ts';
import type { LineSeries } from './svg/line_chart.ts';

export type { ChartFile } from './chart_file.ts';

/** The data-path figures that are summaries (all but the error count). */
export type SummaryMetric = Exclude<keyof DataPathMetrics, 'errors'>;

/** The data-path metrics the ratio chart shows (higher is better for all three). */
const RATIO_METRICS: readonly { readonly key: SummaryMetric; readonly label: string }[] = [
  { key: 'connectionsPerSecond', label: 'new connections/s' },
  { key: 'requestsPerSecond', label: 'requests/s (keep-alive)' },
  { key: 'throughputGbps', label: 'bulk throughput' },
];

/** A target's display name, with where it ran when that is the guest. */
export function targetLabel(r: { readonly target: string; readonly place: Place }): string {
  const name =
    r.target === 'static-dnat'
      ? 'one static DNAT rule (no kproxy)'
      : r.target === 'haproxy'
        ? 'HAProxy'
        : r.target === 'haproxy-portals'
          ? "HAProxy behind kproxy's portal rules"
          : r.target === 'direct'
            ? 'direct'
            : `kproxy ${r.target}`;
  return r.place === 'guest' ? `${name} (guest)` : r.place === 'host-ipv6' ? `${name} (IPv6)` : name;
}

/**
 * The direct-connection baseline measured in the same place.
 *
 * @param results every data-path result
 * @param place host or guest
 * @returns its metrics, if measured
 */
export function baselineOf(results: readonly DataPathResult[], place: Place): DataPathMetrics | undefined {
  const r = results.find((x) => x.target === 'direct' && x.place === place);
  return r?.status === 'measured' ? r.metrics : undefined;
}

/**
 * Renders every chart of a results file.
 *
 * @param results the results
 * @returns the chart files (always the same set; a chart without data says so in its legend)
 */
export function renderBenchCharts(results: BenchResults): ChartFile[] {
  const charts: ChartFile[] = [
    dataPathChart(results),
    connectionRateChart(results.scale),
    firstPacketScalingChart(results.scale),
    ...syncCharts(results.scale),
  ];
  for (const place of ['host', 'guest'] as const) {
    const suffix = place === 'host' ? '' : '-guest';
    charts.push(firstPacketChart(results.scale, place, `first-packet${suffix}.svg`));
    charts.push(controlPlaneChart(results, place, `control-plane${suffix}.svg`));
  }
  return charts;
}

function dataPathChart(results: BenchResults): ChartFile {
  const series: BarSeries[] = [];
  for (const r of results.dataPath) {
    if (r.target === 'direct') continue;
    const base = baselineOf(results.dataPath, r.place);
    series.push({
      name: targetLabel(r),
      values: RATIO_METRICS.map(({ key }) => {
        if (r.status !== 'measured' || base === undefined) return undefined;
        const value = r.metrics[key];
        const baseline = base[key];
        const v = ratio(value, baseline);
        if (v === undefined) return undefined;
        return { value: v, low: value.min / baseline.median, high: value.max / baseline.median };
      }),
    });
  }
  return barChartFile('data-path.svg', {
    title: 'Data path, relative to a direct connection (same run, same place)',
    yLabel: 'median ÷ direct median (whisker: min–max)',
    groups: RATIO_METRICS.map((m) => m.label),
    series,
    referenceLine: { value: 1, label: 'direct = 1' },
    width: 820,
  });
}

/** The name of a scale series: mode, what programs the packet path, and where. */
export function scaleLabel(s: ScaleSeries): string {
  return `kproxy ${scaleModeLabel(s)}, ${s.place}`;
}

function connectionRateChart(scale: readonly ScaleSeries[]): ChartFile {
  const series: LineSeries[] = scale.map((s) => ({
    name: scaleLabel(s),
    points: s.points.flatMap((p) => {
      const direct = directFigures(p).connectionsPerSecond;
      const r = ratio(p.connectionsPerSecond, direct);
      const base = direct?.median ?? 0;
      if (r === undefined || p.connectionsPerSecond === undefined) return [];
      return [
        {
          x: p.services,
          y: r,
          low: p.connectionsPerSecond.min / base,
          high: p.connectionsPerSecond.max / base,
        },
      ];
    }),
  }));
  return lineChartFile('first-packet-rate.svg', {
    title: 'New connections/s to the last-added service, relative to a direct connection',
    xLabel: 'services (10 endpoints each)',
    yLabel: 'conn/s ÷ direct conn/s (same window)',
    xScale: 'log',
    series,
    note: 'median of the wrk runs (Connection: close, 16 connections; whisker min–max), against direct runs interleaved with them (older results: direct before kproxy)',
    width: 860,
  });
}

function firstPacketChart(scale: readonly ScaleSeries[], place: Place, file: string): ChartFile {
  const series: LineSeries[] = [];
  for (const s of scale.filter((x) => x.place === place)) {
    series.push({
      name: scaleLabel(s),
      points: s.points.map((p) => ({
        x: p.services,
        y: p.connectUs.median,
        low: quantile(p.connectUs.samples, 0.25),
        high: quantile(p.connectUs.samples, 0.75),
      })),
    });
    // Older results have no same-window directs: no empty line for them.
    const sameWindow = s.points.flatMap((p) =>
      p.directConnectUs === undefined ? [] : [{ x: p.services, y: p.directConnectUs.median }],
    );
    if (sameWindow.length > 0)
      series.push({ name: `direct, same window (${s.mode} run)`, points: sameWindow });
    series.push({
      name: `direct, before kproxy (${s.mode} run)`,
      points: s.points.map((p) => ({ x: p.services, y: p.baselineConnectUs.median })),
    });
  }
  return lineChartFile(file, {
    title: `First-packet cost: TCP connect time to the last-added service (${place})`,
    xLabel: 'services (× endpoints each, see table)',
    yLabel: 'connect time, µs (median; whisker p25–p75)',
    xScale: 'log',
    series,
    note:
      place === 'guest' ? 'qemu TCG guest: software-emulated CPU, compare within this chart only' : undefined,
    width: 860,
  });
}

function controlPlaneChart(results: BenchResults, place: Place, file: string): ChartFile {
  const series: LineSeries[] = [];
  for (const s of results.scale.filter((x) => x.place === place)) {
    series.push({
      name: `${s.mode}: first full sync`,
      points: s.points.map((p) => ({ x: p.services, y: syncFigure(p, 'first').ms })),
    });
    series.push({
      name: `${s.mode}: one-endpoint change`,
      points: s.points.map((p) => ({ x: p.services, y: syncFigure(p, 'change').ms })),
    });
  }
  if (place === 'host') {
    for (const s of results.plan) {
      series.push({
        name: `${s.mode}: plan + render only`,
        points: s.points.map((p) => ({
          x: p.services,
          y: p.planMs.median,
          low: p.planMs.min,
          high: p.planMs.max,
        })),
      });
    }
  }
  return lineChartFile(file, {
    title: `Control plane: sync time against services (${place})`,
    xLabel: 'services (10 endpoints each)',
    yLabel: "milliseconds (the daemon's sync-duration metrics)",
    xScale: 'log',
    series,
    note:
      place === 'guest' ? 'qemu TCG guest: software-emulated CPU, compare within this chart only' : undefined,
    width: 860,
  });
}
