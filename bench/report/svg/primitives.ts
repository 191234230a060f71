/**
 * The small pieces the benchmark's SVG charts are drawn with: XML escaping, "nice" axis ticks, number
 * formatting for tick labels, and the shared palette. Pure functions, no DOM.
 *
 * @module
 */

/** Series colours (colour-blind friendly, Okabe-Ito), used in order. */
export const PALETTE: readonly string[] = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#D55E00',
  '#56B4E9',
  '#F0E442',
  '#000000',
];

/**
 * The colour of the n-th series.
 *
 * @param index the series index (wraps around the palette)
 * @returns a CSS colour
 * @example seriesColor(0) // '#0072B2'
 */
export function seriesColor(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

/**
 * Escapes text for an XML text node or a double-quoted attribute.
 *
 * @param text any text (labels come from results, so they are escaped, never trusted)
 * @returns the escaped text
 * @example escapeXml('a<b & "c"') // 'a&lt;b &amp; &quot;c&quot;'
 */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * Round tick values covering `[min, max]`: steps of 1, 2 or 5 times a power of ten, about `count`
 * intervals.
 *
 * @param min the smallest value to cover
 * @param max the largest value to cover
 * @param count the wanted number of intervals (default 5)
 * @returns ascending ticks; the first is <= min and the last is >= max
 * @example niceTicks(0, 87) // [0, 20, 40, 60, 80, 100]
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new RangeError(`Bad tick range: ${min}..${max}`);
  }
  if (min === max) {
    if (min === 0) return [0, 1];
    const pad = Math.abs(min) / 2;
    return niceTicks(min - pad, max + pad, count);
  }
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  // d3's thresholds (sqrt(50), sqrt(10), sqrt(2)): the step whose tick count is closest to `count`.
  const step = (fraction >= 7.07 ? 10 : fraction >= 3.16 ? 5 : fraction >= 1.41 ? 2 : 1) * power;
  const first = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v < max + step - step * 1e-9; v += step) ticks.push(roundTo(v, step));
  return ticks;
}

/** Removes floating-point dust (0.30000000000000004) relative to the step. */
function roundTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(decimals));
}

/**
 * A short tick label: 1k, 2.5k, 10k, 1M for large values, otherwise up to 3 significant digits.
 *
 * @param value the tick value
 * @returns the label
 * @example formatTick(5000) // '5k'
 */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  return trim(value);
}

function trim(value: number): string {
  return String(Number(value.toPrecision(3)));
}

/**
 * A coordinate with one decimal: small, deterministic output.
 *
 * @param n a coordinate
 * @returns its text
 * @example f(12.345) // '12.3'
 */
export function f(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/**
 * The opening of a chart document: the svg element, its accessible title, font and background.
 *
 * @param width pixels
 * @param height pixels
 * @param title the chart title (escaped here)
 * @returns the SVG text up to the plot area
 */
export function header(width: number, height: number, title: string): string {
  const t = escapeXml(title);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="sans-serif" font-size="12">`,
    `<title>${t}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${t}</text>`,
  ].join('\n');
}

/**
 * A vertical axis label, rotated, left of the plot.
 *
 * @param label the text (escaped here)
 * @param centerY the vertical middle of the plot
 * @returns an SVG text element
 */
export function yAxisLabel(label: string, centerY: number): string {
  return `<text transform="translate(18 ${f(centerY)}) rotate(-90)" text-anchor="middle">${escapeXml(label)}</text>`;
}

/**
 * A legend: a swatch (square or line) and the name of every series, one per row.
 *
 * @param names series names, in palette order
 * @param x left edge
 * @param y first row's baseline
 * @param swatch `rect` for bars, `line` for lines
 * @returns SVG elements
 */
export function legend(names: readonly string[], x: number, y: number, swatch: 'rect' | 'line'): string {
  return names
    .map((name, i) => {
      const rowY = y + i * 20;
      const mark =
        swatch === 'rect'
          ? `<rect x="${x}" y="${rowY - 10}" width="12" height="12" fill="${seriesColor(i)}"/>`
          : `<line x1="${x}" x2="${x + 16}" y1="${rowY - 4}" y2="${rowY - 4}" stroke="${seriesColor(i)}" stroke-width="2"/><circle cx="${x + 8}" cy="${rowY - 4}" r="3" fill="${seriesColor(i)}"/>`;
      return `${mark}<text x="${x + 22}" y="${rowY}">${escapeXml(name)}</text>`;
    })
    .join('\n');
}

/**
 * The width a legend needs for these names (about 7 px per character at 12 px, plus the swatch).
 *
 * @param names series names
 * @returns pixels
 * @example legendWidth(['iptables']) // 96
 */
export function legendWidth(names: readonly string[]): number {
  return Math.ceil(40 + 7 * Math.max(0, ...names.map((n) => n.length)));
}

/** A dashed horizontal line across the plot at a value, e.g. the baseline or a target. */
export interface ReferenceLine {
  readonly value: number;
  readonly label: string;
}

/**
 * Draws a {@link ReferenceLine}, labelled inside the plot above its left end (the legend owns the right
 * margin).
 *
 * @param line the value and its label (escaped here)
 * @param left the plot's left edge
 * @param width the plot's width
 * @param y the line's vertical position
 * @returns SVG elements
 */
export function referenceLine(line: ReferenceLine, left: number, width: number, y: number): string {
  return [
    `<line x1="${left}" x2="${left + width}" y1="${f(y)}" y2="${f(y)}" stroke="#333" stroke-dasharray="6 4"/>`,
    `<text x="${left + 4}" y="${f(y - 4)}" font-size="11">${escapeXml(line.label)}</text>`,
  ].join('\n');
}
