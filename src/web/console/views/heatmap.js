// The label heat map of a day: every DOM id with its count (django-tracker's "stats by DOM id"), shaded by heat.
import { dayIn, field, formatNumber, formValues, h, instantOfDay, localTimeZone, timeZoneInput } from '../dom.js';
import { heading, statusLine } from './common.js';

const HEAT = `query ConsoleHeatMap($day: DateTime, $tz: String, $category: String) {
  labelHeatMap(day: $day, timezone: $tz, category: $category, first: 500) { domId label category count }
}`;

/** Light yellow (cold) to deep red (hot). */
function heat(share) {
  const hue = 50 - 50 * share;
  const lightness = 92 - 47 * share;
  return `hsl(${hue.toFixed(0)} 90% ${lightness.toFixed(0)}%)`;
}

export default {
  title: 'Heat map',
  async render(root, params, ctx) {
    const tz = params.get('tz') || localTimeZone;
    const day = params.get('day') || dayIn(Date.now(), tz);
    const category = params.get('category') ?? '';
    const status = statusLine();
    const output = h('div.heat-output');

    root.append(
      ...heading('Label heat map', 'DOM ids counted by trackLabels ("label:category:domId", the /track beacon, data-trackql-labels) during one day, hottest first.'),
      h(
        'form.controls',
        {
          'aria-label': 'Heat map settings',
          on: {
            submit: (event) => {
              event.preventDefault();
              const v = formValues(event.target);
              ctx.navigate('heatmap', { day: v.day, tz: v.tz, category: v.category });
            },
          },
        },
        field('Day', h('input', { type: 'date', name: 'day', value: day, required: true })),
        field('Time zone', timeZoneInput('tz', tz)),
        field('Category', h('input', { name: 'category', value: category, maxlength: 128 }), 'empty: all'),
        h('button.primary', { type: 'submit' }, 'Show'),
      ),
      status.element,
      output,
    );

    async function load() {
      const { labelHeatMap } = await ctx.api.request(HEAT, { day: instantOfDay(day, tz), tz, category: category || null });
      // One tile per DOM id; its labels and categories listed inside.
      const byDom = new Map();
      for (const row of labelHeatMap) {
        const entry = byDom.get(row.domId) ?? { domId: row.domId, count: 0, labels: [] };
        entry.count += row.count;
        entry.labels.push(row);
        byDom.set(row.domId, entry);
      }
      const tiles = [...byDom.values()].sort((a, b) => b.count - a.count || a.domId.localeCompare(b.domId));
      const max = Math.max(1, ...tiles.map((t) => t.count));
      if (tiles.length === 0) {
        output.replaceChildren(h('p.empty', {}, `No labels were tracked on ${day} (${tz}).`));
        return;
      }
      output.replaceChildren(
        h(
          'ol.heat',
          { 'aria-label': `DOM ids on ${day}, hottest first` },
          tiles.map((tile) => {
            const share = tile.count / max;
            return h(
              'li.tile',
              { style: `background: ${heat(share)}; color: ${share > 0.6 ? '#fff' : '#1d2330'}`, dataset: { domId: tile.domId, count: String(tile.count) } },
              h('code.dom', {}, `#${tile.domId}`),
              h('strong.count', {}, formatNumber(tile.count)),
              h('span.labels', {}, tile.labels.map((l) => `${l.label}${l.category ? ` (${l.category})` : ''}: ${formatNumber(l.count)}`).join(' · ')),
            );
          }),
        ),
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
