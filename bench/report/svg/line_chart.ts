/**
 * A line chart as a standalone SVG document: y against a numeric x (linear or logarithmic, e.g. number of
 * services), one line per series, points with an optional whisker for the spread.
 *
 * @module
 */
import {
  escapeXml,
  f,
  formatTick,
  header,
  legend,
  legendWidth,
  niceTicks,
  type ReferenceLine,
  referenceLine,
  seriesColor,
  yAxisLabel,
} from './primitives.ts';

/** One point; `low`/`high` draw the spread as a whisker. */
export interface LinePoint {
  readonly x: number;
  readonly y: number;
  readonly low?: number | undefined;
  readonly high?: number | undefined;
}

/** One line. */
export interface LineSeries {
  readonly name: string;
  readonly points: readonly LinePoint[];
}

/** What to draw. */
export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** `log` spaces 100, 1k, 10k evenly; its ticks are the x values of the points. Default linear. */
  readonly xScale?: 'linear' | 'log' | undefined;
  readonly series: readonly LineSeries[];
  /** A line of small text under the x axis label (e.g. where the numbers were taken). */
  readonly note?: string | undefined;
  /** A dashed horizontal line, e.g. `{ value: 0.9, label: 'target 0.9×' }`. */
  readonly referenceLine?: ReferenceLine | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
}

const MARGIN = { top: 48, bottom: 72, left: 72 };

/**
 * Renders a line chart. Series without points still get a legend row marked "(no data)".
 *
 * @param spec title, labels, scale, series, size
 * @returns an SVG document (UTF-8 text)
 * @throws {RangeError} when a log x axis gets an x <= 0
 * @example
 * renderLineChart({
 *   title: 'First-packet latency',
 *   xLabel: 'services',
 *   yLabel: 'connect time (µs)',
 *   xScale: 'log',
 *   series: [{ name: 'iptables', points: [{ x: 100, y: 80 }, { x: 10000, y: 900 }] }],
 * })
 */
export function renderLineChart(spec: LineChartSpec): string {
  const height = spec.height ?? 420;
  const names = spec.series.map((s) => (s.points.length === 0 ? `${s.name} (no data)` : s.name));
  // The legend gets what its longest name needs; the plot keeps at least 360 px.
  const right = legendWidth(names);
  const width = Math.max(spec.width ?? 760, MARGIN.left + 360 + right);
  const log = spec.xScale === 'log';
  const points = spec.series.flatMap((s) => s.points);
  if (log && points.some((p) => p.x <= 0)) throw new RangeError('A log x axis needs x > 0');
  const plotW = width - MARGIN.left - right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const xTicks = log ? xs : niceTicks(Math.min(0, ...xs), Math.max(1, ...xs), 5);
  const tx = (x: number) => (log ? Math.log10(x) : x);
  const xMin = tx(xTicks[0] ?? 1);
  const xMax = tx(xTicks.at(-1) ?? 10);
  const span = xMax - xMin;
  // A single x value sits in the middle rather than on the axis.
  const x = (v: number) => MARGIN.left + (span === 0 ? plotW / 2 : ((tx(v) - xMin) / span) * plotW);
  const tops = points.map((p) => Math.max(p.y, p.high ?? 0));
  if (spec.referenceLine !== undefined) tops.push(spec.referenceLine.value);
  const yTicks = niceTicks(0, Math.max(0, ...tops), 5);
  const yMax = yTicks.at(-1)!;
  const y = (v: number) => MARGIN.top + plotH - (v / yMax) * plotH;
  const out: string[] = [header(width, height, spec.title)];
  for (const t of yTicks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${f(y(t))}" y2="${f(y(t))}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${f(y(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`,
    );
  }
  for (const t of xTicks) {
    out.push(
      `<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`,
      `<text x="${f(x(t))}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`,
    );
  }
  out.push(
    `<path d="M${MARGIN.left} ${MARGIN.top}V${MARGIN.top + plotH}H${MARGIN.left + plotW}" stroke="#333" fill="none"/>`,
    yAxisLabel(spec.yLabel, MARGIN.top + plotH / 2),
    `<text x="${f(MARGIN.left + plotW / 2)}" y="${MARGIN.top + plotH + 40}" text-anchor="middle">${escapeXml(spec.xLabel + (log ? ' (log scale)' : ''))}</text>`,
  );
  if (spec.note !== undefined) {
    out.push(
      // Centred on the whole chart: a note may be wider than the plot.
      `<text x="${f(width / 2)}" y="${MARGIN.top + plotH + 60}" text-anchor="middle" font-size="10" fill="#555">${escapeXml(spec.note)}</text>`,
    );
  }
  if (spec.referenceLine !== undefined) {
    out.push(referenceLine(spec.referenceLine, MARGIN.left, plotW, y(spec.referenceLine.value)));
  }
  spec.series.forEach((s, i) => {
    const color = seriesColor(i);
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    if (sorted.length > 1) {
      const d = sorted.map((p, k) => `${k === 0 ? 'M' : 'L'}${f(x(p.x))} ${f(y(p.y))}`).join('');
      out.push(`<path d="${d}" stroke="${color}" stroke-width="2" fill="none"/>`);
    }
    for (const p of sorted) {
      if (p.low !== undefined && p.high !== undefined) {
        out.push(
          `<path d="M${f(x(p.x))} ${f(y(p.low))}V${f(y(p.high))}" stroke="${color}" stroke-opacity="0.6" fill="none"/>`,
        );
      }
      out.push(
        `<circle cx="${f(x(p.x))}" cy="${f(y(p.y))}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${formatTick(p.x)} → ${formatTick(p.y)}`)}</title></circle>`,
      );
    }
  });
  out.push(legend(names, MARGIN.left + plotW + 16, MARGIN.top + 24, 'line'));
  out.push('</svg>\n');
  return out.join('\n');
}
