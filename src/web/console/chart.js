// Time-series charts with uPlot (served by trackql from node_modules), plus the same data as a table for
// keyboard and screen-reader users.
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { formatNumber, h } from './dom.js';

export const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/**
 * Lines on one time axis: `points` is one [{start, value}] list per series (they may cover different
 * instants: gauges only have the periods recorded). Counters with one series are drawn as bars.
 * Returns { element, destroy }.
 */
export function timeChart({ title, series, timeZone, kind = 'COUNTER', height = 280 }) {
  const instants = [...new Set(series.flatMap((s) => s.points.map((p) => Date.parse(p.start))))].sort((a, b) => a - b);
  const index = new Map(instants.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const column = new Array(instants.length).fill(null);
    for (const p of s.points) column[index.get(Date.parse(p.start))] = p.value;
    return column;
  });
  const data = [instants.map((t) => t / 1000), ...columns];
  const bars = kind === 'COUNTER' && series.length === 1;

  const plot = h('div.plot', { 'aria-hidden': 'true' });
  const figure = h(
    'figure.chart',
    { dataset: { points: String(instants.length), series: String(series.length) } },
    h('figcaption', {}, title),
    plot,
    dataTable(title, instants, series, columns, timeZone),
  );

  const options = {
    // A small start: the chart is sized to its container once in the page (a wide start would push the page
    // wider on a phone).
    width: 280,
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
    // Bars get half a period of room at both ends (else the first and last are cut in half).
    scales: { x: bars && instants.length > 1 ? { time: true, range: (_u, min, max) => { const half = (max - min) / (instants.length - 1) / 2; return [min - half, max + half]; } } : { time: true } },
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: 'time' },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        fill: bars ? `${COLORS[i % COLORS.length]}55` : undefined,
        spanGaps: kind === 'GAUGE',
        points: { show: !bars && instants.length <= 60, size: 5 },
        paths: bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined,
        value: (_u, v) => (v == null ? '–' : formatNumber(v)),
      })),
    ],
    axes: [
      { stroke: '#4b5563', grid: { stroke: '#e5e7eb' } },
      { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, size: 60, values: (_u, values) => values.map((v) => formatNumber(v)) },
    ],
  };
  const chart = new uPlot(options, data, plot);
  const resize = () => {
    if (!plot.isConnected) return;
    const width = Math.max(240, Math.floor(plot.clientWidth));
    if (width !== chart.width) chart.setSize({ width, height });
  };
  const observer = new ResizeObserver(resize);
  observer.observe(figure);
  requestAnimationFrame(resize);
  return {
    element: figure,
    destroy() {
      observer.disconnect();
      chart.destroy();
    },
  };
}

function dataTable(title, instants, series, columns, timeZone) {
  const time = (t) => new Date(t).toLocaleString(undefined, { timeZone, dateStyle: 'short', timeStyle: 'short' });
  return h(
    'details.data',
    {},
    h('summary', {}, 'Data table'),
    h(
      'div.table-wrap',
      { tabindex: '0', role: 'region', 'aria-label': `${title}: data` },
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, `Start (${timeZone})`), series.map((s) => h('th', { scope: 'col' }, s.label)))),
        h('tbody', {}, instants.map((t, row) => h('tr', {}, h('td', {}, time(t)), columns.map((c) => h('td.num', {}, c[row] == null ? '–' : formatNumber(c[row])))))),
      ),
    ),
  );
}
