// A metric's chart: period, range, time zone, objects compared, category, cumulative; counters and gauges.
// Live (every 5 s) while the range ends now.
import { timeChart } from '../chart.js';
import { dayIn, field, formatNumber, formValues, h, instantOfDay, localTimeZone, parseObject, timeZoneInput } from '../dom.js';
import { heading, metricList, metricPicker, periodPicker, statusLine } from './common.js';

const SERIES = `query ConsoleSeries($d: ID!, $m: ID!, $period: Period!, $from: DateTime, $to: DateTime, $tz: String, $object: ObjectRefInput, $category: String) {
  domain(ref: $d) { metric(ref: $m) { name kind total(object: $object, category: $category)
    series(period: $period, from: $from, to: $to, timezone: $tz, object: $object, category: $category) { start value } } }
}`;

/** Objects compared on one chart (each is one request). */
export const MAX_OBJECTS = 8;

function cumulate(points) {
  let sum = 0;
  return points.map((p) => ({ start: p.start, value: (sum += p.value) }));
}

export default {
  title: 'Chart',
  async render(root, params, ctx) {
    const metrics = await metricList(ctx.api);
    const [domain, ref] = [params.get('domain'), params.get('metric')];
    const chosen = metrics.find((m) => m.domain === domain && m.ref === ref) ?? metrics.find((m) => m.domain !== 'trackql') ?? metrics[0];
    const tz = params.get('tz') || localTimeZone;
    const period = params.get('period') || 'DAY';
    const objects = params.getAll('o').map(parseObject).filter(Boolean).slice(0, MAX_OBJECTS);
    const category = params.get('category') ?? '';
    const cumulative = params.get('cumulative') === '1';
    const from = params.get('from') ?? '';
    const to = params.get('to') ?? '';

    const status = statusLine();
    const output = h('div.chart-output');
    const form = h(
      'form.controls',
      {
        'aria-label': 'Chart settings',
        on: {
          submit: (event) => {
            event.preventDefault();
            const v = formValues(event.target);
            const [d, m] = v.metric.split(' ');
            const list = v.objects.split(/\n|,/).map((s) => s.trim()).filter(Boolean);
            const bad = list.find((o) => !parseObject(o));
            if (bad) return ctx.toast(`"${bad}" is not an object: write Type:id`, 'error');
            ctx.navigate('chart', { domain: d, metric: m, period: v.period, from: v.from, to: v.to, tz: v.tz, category: v.category, o: list, cumulative: v.cumulative ? '1' : '' });
          },
        },
      },
      chosen ? metricPicker(metrics, chosen.domain, chosen.ref) : h('p', {}, 'No metrics registered yet.'),
      periodPicker(period),
      field('From (day)', h('input', { type: 'date', name: 'from', value: from })),
      field('To (day)', h('input', { type: 'date', name: 'to', value: to }), 'empty: now (live)'),
      field('Time zone', timeZoneInput('tz', tz)),
      field('Category', h('input', { name: 'category', value: category, maxlength: 128 }), 'empty: all'),
      field('Objects to compare', h('textarea', { name: 'objects', rows: 2, placeholder: 'Product:42\nProduct:7' }, objects.map((o) => `${o.type}:${o.id}`).join('\n')), `Type:id, one per line (at most ${MAX_OBJECTS}); empty: the whole metric`),
      h('label.check', {}, h('input', { type: 'checkbox', name: 'cumulative', checked: cumulative }), ' cumulative'),
      h('button.primary', { type: 'submit' }, 'Show'),
    );
    root.append(...heading('Chart', 'Series of a metric by period in a time zone; several objects side by side. Counters add what is still in the inbox, so the last point is exact.'), form, status.element, output);
    if (!chosen) return;

    const variables = {
      d: chosen.domain,
      m: chosen.ref,
      period,
      tz,
      category: category || null,
      from: from ? instantOfDay(from, tz, 0) : null,
      to: to ? instantOfDay(to, tz, 23) : null,
    };
    let shown = null;
    let current = null;

    async function load() {
      const targets = objects.length ? objects : [null];
      const results = await Promise.all(targets.map((object) => ctx.api.request(SERIES, { ...variables, object })));
      const metric = results[0].domain?.metric;
      if (!metric) throw new Error(`Unknown metric ${chosen.domain}/${chosen.ref}`);
      const series = results.map((r, i) => {
        const points = r.domain.metric.series;
        const label = targets[i] ? `${targets[i].type}:${targets[i].id}` : 'all objects';
        return { label, total: r.domain.metric.total, points: cumulative && metric.kind === 'COUNTER' ? cumulate(points) : points };
      });
      const fingerprint = JSON.stringify(series);
      if (fingerprint === shown) return;
      shown = fingerprint;
      current?.destroy();
      current = timeChart({
        title: `${metric.name} (${chosen.domain}/${chosen.ref}) by ${period.toLowerCase()}${cumulative ? ', cumulative' : ''}${category ? `, category ${category}` : ''} · ${tz}`,
        series,
        timeZone: tz,
        kind: metric.kind,
      });
      const totals = h(
        'ul.totals',
        { 'aria-label': 'Totals' },
        series.map((s) => h('li', {}, h('span', {}, s.label), ' ', h('strong', { dataset: { total: s.label } }, formatNumber(s.total)), metric.kind === 'COUNTER' ? h('span.muted', {}, ' all time') : h('span.muted', {}, ' lifetime value'))),
      );
      output.replaceChildren(current.element, totals);
    }

    status.loading();
    try {
      await load();
      status.done(!to);
    } catch (error) {
      status.failed(error);
      ctx.fail(error);
    }
    ctx.onCleanup(() => current?.destroy());
    if (!to) {
      ctx.live(async () => {
        await load();
        status.done(true);
      });
    }
    // Days shown in the pickers are in the chosen zone; today as the default "to" hint.
    form.querySelector('[name=to]').placeholder = dayIn(Date.now(), tz);
  },
};
