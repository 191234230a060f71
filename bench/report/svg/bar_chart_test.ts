import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderBarChart } from './bar_chart.ts';
import { seriesColor } from './primitives.ts';

/** The bars (rects with a tooltip) of a chart, with their geometry. */
function bars(svg: string) {
  return [
    ...svg.matchAll(
      /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="([^"]+)"><title>([^<]*)<\/title>/g,
    ),
  ].map((m) => ({ x: Number(m[1]), y: Number(m[2]), height: Number(m[4]), fill: m[5], title: m[6] }));
}

const spec = {
  title: 'Relative to direct',
  yLabel: 'ratio',
  groups: ['conn/s', 'req/s'],
  series: [
    { name: 'haproxy', values: [{ value: 0.5, low: 0.4, high: 0.6 }, { value: 1 }] },
    { name: 'kproxy <userspace>', values: [{ value: 0.25 }, undefined] },
  ],
  referenceLine: { value: 1, label: 'direct = 1' },
};

describe('renderBarChart', () => {
  it('is a standalone SVG document with an accessible title', () => {
    const svg = renderBarChart(spec);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="760" height="420"/);
    assert.match(svg, /<title>Relative to direct<\/title>/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });

  it('draws one bar per measured value, heights proportional to the values, coloured by series', () => {
    const drawn = bars(renderBarChart(spec));
    assert.deepEqual(
      drawn.map((b) => [b.title, b.fill]),
      [
        ['haproxy, conn/s: 0.5 (0.4-0.6)', seriesColor(0)],
        ['kproxy &lt;userspace&gt;, conn/s: 0.25', seriesColor(1)],
        ['haproxy, req/s: 1', seriesColor(0)],
      ],
    );
    const [half, quarter, full] = drawn;
    assert.ok(Math.abs(half!.height / full!.height - 0.5) < 0.01);
    assert.ok(Math.abs(quarter!.height / full!.height - 0.25) < 0.01);
    assert.equal(half!.y + half!.height, full!.y + full!.height, 'bars share the zero line');
    assert.ok(quarter!.x > half!.x && full!.x > quarter!.x, 'groups left to right, series within a group');
  });

  it('marks a value that was not measured instead of drawing it', () => {
    const svg = renderBarChart(spec);
    assert.equal(svg.match(/>n\/m</g)?.length, 1);
  });

  it('draws the spread as a whisker and the reference line at its value', () => {
    const svg = renderBarChart(spec);
    const full = bars(svg)[2]!;
    assert.match(
      svg,
      new RegExp(`<line x1="72" x2="[\\d.]+" y1="${full.y}" y2="${full.y}" stroke="#333" stroke-dasharray`),
    );
    assert.match(svg, />direct = 1</);
    assert.equal(svg.match(/<path d="M[\d.]+ [\d.]+V[\d.]+M/g)?.length, 1, 'one whisker: one spread given');
  });

  it('widens the chart so that the longest legend name fits', () => {
    const long = 'kproxy userspace in the guest with a very long name indeed';
    const svg = renderBarChart({ ...spec, series: [{ name: long, values: [undefined, undefined] }] });
    const width = Number(/^<svg [^>]*width="(\d+)"/.exec(svg)?.[1]);
    const legendX = Number(new RegExp(`<text x="([\\d.]+)" y="[\\d.]+">${long}</text>`).exec(svg)?.[1]);
    assert.ok(legendX + long.length * 7 <= width, `${legendX} + text within ${width}`);
  });

  it('escapes every label', () => {
    const svg = renderBarChart({ ...spec, title: 'a & b', groups: ['<x>', 'y'] });
    assert.match(svg, /<title>a &amp; b<\/title>/);
    assert.match(svg, />&lt;x&gt;</);
    assert.doesNotMatch(svg, /<x>/);
  });

  it('refuses a series without one value per group', () => {
    assert.throws(
      () => renderBarChart({ ...spec, series: [{ name: 's', values: [{ value: 1 }] }] }),
      /Bar series "s" has 1 values for 2 groups/,
    );
  });
});
