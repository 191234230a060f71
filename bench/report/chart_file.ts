/**
 * One chart of the report, as docs/benchmarks/ holds it beside the Markdown that links it, and the two ways
 * of making one (a line chart, a bar chart) with whether it has anything to show.
 *
 * @module
 */
import { type BarChartSpec, renderBarChart } from './svg/bar_chart.ts';
import { type LineChartSpec, renderLineChart } from './svg/line_chart.ts';

/** One chart file. */
export interface ChartFile {
  /** File name inside docs/benchmarks/. */
  readonly file: string;
  readonly title: string;
  readonly svg: string;
  /** False when no series has a point (the report then leaves the chart out). */
  readonly hasData: boolean;
}

/**
 * A line chart file; it has data when a series has a point.
 *
 * @param file its name inside docs/benchmarks/
 * @param spec what to draw
 * @returns the chart file
 * @example lineChartFile('first-packet.svg', { title, xLabel, yLabel, series })
 */
export function lineChartFile(file: string, spec: LineChartSpec): ChartFile {
  return {
    file,
    title: spec.title,
    hasData: spec.series.some((s) => s.points.length > 0),
    svg: renderLineChart(spec),
  };
}

/**
 * A bar chart file; it has data when a bar was measured.
 *
 * @param file its name inside docs/benchmarks/
 * @param spec what to draw
 * @returns the chart file
 * @example barChartFile('data-path.svg', { title, yLabel, groups, series })
 */
export function barChartFile(file: string, spec: BarChartSpec): ChartFile {
  return {
    file,
    title: spec.title,
    hasData: spec.series.some((s) => s.values.some((v) => v !== undefined)),
    svg: renderBarChart(spec),
  };
}
