/**
 * A grouped bar chart as a standalone SVG document: one group per category (e.g. a metric), one bar per
 * series (e.g. a proxy) in each group, an optional whisker for the spread and an optional reference line
 * (e.g. 1.0 = the baseline). Bars that were not measured are marked "n/m" instead of drawn.
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

/** One bar: its value and, optionally, the spread drawn as a whisker. */
export interface BarValue {
  readonly value: number;
  readonly low?: number | undefined;
  readonly high?: number | undefined;
}

/** One series: a bar in every group (undefined = not measured). */
export interface BarSeries {
  readonly name: string;
  readonly values: readonly (BarValue | undefined)[];
}

/** What to draw. */
export interface BarChartSpec {
  readonly title: string;
  readonly yLabel: string;
  /** Group labels along the x axis; every series has one value per group. */
  readonly groups: readonly string[];
  readonly series: readonly BarSeries[];
  /** A dashed horizontal line, e.g. `{ value: 1, label: 'direct = 1' }`. */
  readonly referenceLine?: ReferenceLine | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
}

const MARGIN = { top: 48, bottom: 56, left: 72 };

/**
 * Renders a grouped bar chart.
 *
 * @param spec title, axis label, groups, series, reference line, size
 * @returns an SVG document (UTF-8 text)
 * @throws {RangeError} when a series does not have one value per group
 * @example
 * renderBarChart({
 *   title: 'Throughput relative to a direct connection',
 *   yLabel: 'ratio to direct',
 *   groups: ['conn/s', 'req/s'],
 *   series: [{ name: 'haproxy', values: [{ value: 0.8, low: 0.7, high: 0.9 }, undefined] }],
 *   referenceLine: { value: 1, label: 'direct' },
 * })
 */
export function renderBarChart(spec: BarChartSpec): string {
  const height = spec.height ?? 420;
  const names = spec.series.map((s) => s.name);
  // The legend gets what its longest name needs; the plot keeps at least 360 px.
  const right = legendWidth(names);
  const width = Math.max(spec.width ?? 760, MARGIN.left + 360 + right);
  for (const s of spec.series) {
    if (s.values.length !== spec.groups.length) {
      throw new RangeError(
        `Bar series ${JSON.stringify(s.name)} has ${s.values.length} values for ${spec.groups.length} groups`,
      );
    }
  }
  const plotW = width - MARGIN.left - right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const tops = spec.series.flatMap((s) => s.values.map((v) => Math.max(v?.value ?? 0, v?.high ?? 0)));
  if (spec.referenceLine !== undefined) tops.push(spec.referenceLine.value);
  const ticks = niceTicks(0, Math.max(0, ...tops), 5);
  const yMax = ticks.at(-1)!;
  const y = (v: number) => MARGIN.top + plotH - (v / yMax) * plotH;
  const groupW = plotW / Math.max(1, spec.groups.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  const out: string[] = [];
  out.push(header(width, height, spec.title));
  for (const t of ticks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${f(y(t))}" y2="${f(y(t))}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${f(y(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`,
    );
  }
  out.push(yAxisLabel(spec.yLabel, MARGIN.top + plotH / 2));
  spec.groups.forEach((group, g) => {
    const x0 = MARGIN.left + g * groupW + groupW * 0.1;
    out.push(
      `<text x="${f(MARGIN.left + (g + 0.5) * groupW)}" y="${f(MARGIN.top + plotH + 20)}" text-anchor="middle">${escapeXml(group)}</text>`,
    );
    spec.series.forEach((s, i) => {
      const v = s.values[g];
      const x = x0 + i * barW;
      if (v === undefined) {
        out.push(
          `<text x="${f(x + barW / 2)}" y="${f(y(0) - 4)}" text-anchor="middle" font-size="9" fill="#888">n/m</text>`,
        );
        return;
      }
      const top = y(Math.max(0, v.value));
      out.push(
        `<rect x="${f(x + 1)}" y="${f(top)}" width="${f(Math.max(1, barW - 2))}" height="${f(y(0) - top)}" fill="${seriesColor(i)}"><title>${escapeXml(`${s.name}, ${group}: ${formatValue(v)}`)}</title></rect>`,
      );
      if (v.low !== undefined && v.high !== undefined) {
        const cx = f(x + barW / 2);
        out.push(
          `<path d="M${cx} ${f(y(v.low))}V${f(y(v.high))}M${f(x + barW / 2 - 3)} ${f(y(v.low))}h6M${f(x + barW / 2 - 3)} ${f(y(v.high))}h6" stroke="#333" fill="none"/>`,
        );
      }
    });
  });
  if (spec.referenceLine !== undefined) {
    out.push(referenceLine(spec.referenceLine, MARGIN.left, plotW, y(spec.referenceLine.value)));
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${f(y(0))}" y2="${f(y(0))}" stroke="#333"/>`,
  );
  out.push(legend(names, MARGIN.left + plotW + 16, MARGIN.top + 24, 'rect'));
  out.push('</svg>\n');
  return out.join('\n');
}

function formatValue(v: BarValue): string {
  const spread = v.low !== undefined && v.high !== undefined ? ` (${fmt(v.low)}-${fmt(v.high)})` : '';
  return `${fmt(v.value)}${spread}`;
}

function fmt(n: number): string {
  return String(Number(n.toPrecision(3)));
}
