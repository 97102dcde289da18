// Top objects of a metric for a period, with links to their charts.
import { dayIn, field, formatNumber, formValues, h, instantOfDay, localTimeZone, objectKey, timeZoneInput } from '../dom.js';
import { heading, metricList, metricPicker, objectLabel, periodPicker, statusLine } from './common.js';

const TOP = `query ConsoleTop($d: ID!, $m: ID!, $period: Period!, $at: DateTime, $tz: String, $category: String, $limit: Int) {
  domain(ref: $d) { metric(ref: $m) { name kind
    top(period: $period, at: $at, timezone: $tz, category: $category, limit: $limit) { object { type id label deleted description } value } } }
}`;

export default {
  title: 'Top objects',
  async render(root, params, ctx) {
    const metrics = await metricList(ctx.api);
    const chosen = metrics.find((m) => m.domain === params.get('domain') && m.ref === params.get('metric')) ?? metrics.find((m) => m.domain !== 'trackql') ?? metrics[0];
    const tz = params.get('tz') || localTimeZone;
    const period = params.get('period') || 'DAY';
    const day = params.get('day') || dayIn(Date.now(), tz);
    const category = params.get('category') ?? '';
    const limit = Math.min(100, Math.max(1, Number(params.get('limit')) || 10));
    const status = statusLine();
    const output = h('div.top-output');

    root.append(
      ...heading('Top objects', 'The objects with the highest value in the period containing the chosen day (LIFETIME: all time).'),
      h(
        'form.controls',
        {
          'aria-label': 'Top objects settings',
          on: {
            submit: (event) => {
              event.preventDefault();
              const v = formValues(event.target);
              const [d, m] = v.metric.split(' ');
              ctx.navigate('top', { domain: d, metric: m, period: v.period, day: v.day, tz: v.tz, category: v.category, limit: v.limit });
            },
          },
        },
        chosen ? metricPicker(metrics, chosen.domain, chosen.ref) : h('p', {}, 'No metrics registered yet.'),
        periodPicker(period, { lifetime: true }),
        field('Day in the period', h('input', { type: 'date', name: 'day', value: day, required: true })),
        field('Time zone', timeZoneInput('tz', tz)),
        field('Category', h('input', { name: 'category', value: category, maxlength: 128 }), 'empty: all'),
        field('How many', h('input', { type: 'number', name: 'limit', min: 1, max: 100, value: String(limit) })),
        h('button.primary', { type: 'submit' }, 'Show'),
      ),
      status.element,
      output,
    );
    if (!chosen) return;

    const chartLink = (objects) => {
      const search = new URLSearchParams({ domain: chosen.domain, metric: chosen.ref, period: period === 'LIFETIME' ? 'DAY' : period === 'HOUR' ? 'HOUR' : 'DAY', tz });
      if (category) search.set('category', category);
      for (const o of objects) search.append('o', objectKey(o));
      return `#/chart?${search}`;
    };

    async function load() {
      const data = await ctx.api.request(TOP, { d: chosen.domain, m: chosen.ref, period, at: instantOfDay(day, tz), tz, category: category || null, limit });
      const top = data.domain?.metric?.top ?? [];
      const max = Math.max(1, ...top.map((t) => t.value));
      const rows = top.map((entry, i) =>
        h(
          'tr',
          {},
          h('td.num', {}, String(i + 1)),
          h('th', { scope: 'row' }, objectLabel(entry.object)),
          h('td.num', {}, formatNumber(entry.value)),
          h('td.bar-cell', { 'aria-hidden': 'true' }, h('span.bar', { style: `width: ${Math.max(1, (100 * entry.value) / max).toFixed(1)}%` })),
          h('td', {}, h('a', { href: chartLink([entry.object]) }, 'Chart')),
        ),
      );
      output.replaceChildren(
        top.length
          ? h(
              'div',
              {},
              h(
                'div.table-wrap',
                { tabindex: '0', role: 'region', 'aria-label': 'Top objects' },
                h(
                  'table.top',
                  {},
                  h('caption', {}, `${data.domain.metric.name}: top ${top.length} for the ${period.toLowerCase()} of ${day} (${tz})`),
                  h('thead', {}, h('tr', {}, ['#', 'Object', 'Value', '', ''].map((c) => h('th', { scope: 'col' }, c)))),
                  h('tbody', {}, rows),
                ),
              ),
              top.length > 1 ? h('p', {}, h('a', { href: chartLink(top.slice(0, 5).map((t) => t.object)) }, `Compare the top ${Math.min(5, top.length)} on one chart`)) : null,
            )
          : h('p.empty', {}, 'No object has a value in this period.'),
      );
    }

    status.loading();
    try {
      await load();
      status.done(true);
    } catch (error) {
      status.failed(error);
      ctx.fail(error);
    }
    ctx.live(async () => {
      await load();
      status.done(true);
    });
  },
};
