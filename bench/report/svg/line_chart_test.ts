import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderLineChart } from './line_chart.ts';
import { seriesColor } from './primitives.ts';

function circles(svg: string) {
  return [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3.5" fill="([^"]+)"><title>([^<]*)</g)].map(
    (m) => ({ x: Number(m[1]), y: Number(m[2]), fill: m[3], title: m[4] }),
  );
}

describe('renderLineChart', () => {
  const spec = {
    title: 'First packet',
    xLabel: 'services',
    yLabel: 'µs',
    xScale: 'log' as const,
    series: [
      {
        name: 'iptables',
        points: [
          { x: 10_000, y: 400, low: 350, high: 450 },
          { x: 100, y: 100 },
          { x: 1000, y: 200 },
        ],
      },
      { name: 'ipvs', points: [] },
    ],
  };

  it('spaces a log axis by decades and labels its ticks with the x values', () => {
    const svg = renderLineChart(spec);
    const [a, b, c] = circles(svg);
    assert.ok(Math.abs(b!.x - a!.x - (c!.x - b!.x)) < 0.2, 'equal distance per decade');
    for (const label of ['100', '1k', '10k']) assert.match(svg, new RegExp(`>${label}</text>`));
    assert.match(svg, />services \(log scale\)</);
  });

  it('places points by value and joins them left to right', () => {
    const svg = renderLineChart(spec);
    const points = circles(svg);
    assert.deepEqual(
      points.map((p) => p.title),
      ['iptables: 100 → 100', 'iptables: 1k → 200', 'iptables: 10k → 400'],
    );
    const zero = points[0]!.y + (points[0]!.y - points[1]!.y); // y(0) = y(100) + (y(100) - y(200))
    assert.ok(Math.abs(zero - points[2]!.y - 4 * (points[0]!.y - points[1]!.y)) < 0.3);
    assert.equal(points[0]!.fill, seriesColor(0));
    assert.match(
      svg,
      new RegExp(`<path d="M${points[0]!.x} ${points[0]!.y}L[^"]+" stroke="${seriesColor(0)}"`),
    );
  });

  it('draws the spread of a point and lists a series without data in the legend', () => {
    const svg = renderLineChart(spec);
    assert.equal(svg.match(/stroke-opacity="0.6"/g)?.length, 1);
    assert.match(svg, />ipvs \(no data\)</);
  });

  it('uses a linear axis starting at zero by default', () => {
    const svg = renderLineChart({ ...spec, xScale: undefined, note: 'taken on <host>' });
    assert.match(svg, />0<\/text>/);
    assert.match(svg, />taken on &lt;host&gt;</);
  });

  it('draws a reference line at its value, and makes room for it above the data', () => {
    const svg = renderLineChart({ ...spec, referenceLine: { value: 600, label: 'target <600>' } });
    const line =
      /<line x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)" y2="\1" stroke="#333" stroke-dasharray="6 4"\/>/.exec(svg);
    assert.ok(line !== null, 'a dashed line');
    const [first, second] = circles(svg); // 100 at y(100), 1k at y(200)
    const perHundred = first!.y - second!.y;
    assert.ok(Math.abs(first!.y - 5 * perHundred - Number(line[1])) < 0.3, 'at 600');
    assert.match(svg, />target &lt;600&gt;</);
  });

  it('refuses non-positive x on a log axis', () => {
    assert.throws(
      () => renderLineChart({ ...spec, series: [{ name: 's', points: [{ x: 0, y: 1 }] }] }),
      /log x axis needs x > 0/,
    );
  });
});
