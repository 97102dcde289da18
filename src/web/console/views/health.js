// Ingestion health: inbox depth, folds, dead letters (retry or purge), bot rejections. Live every 5 s.
import { timeChart } from '../chart.js';
import { formatNumber, formatTime, h, localTimeZone, select } from '../dom.js';
import { confirmButton, heading, metricList, objectLabel, statusLine } from './common.js';

const STATUS = `query ConsoleHealth {
  metricsStatus { inboxRows deadLetters flushes flushedRows acknowledgedWrites
    recentFolds { finishedAt report { folded buckets deadLettered durationMs batches } } }
  bots: domain(ref: "trackql") { metric(ref: "bot_rejections") { total hours: series(period: HOUR) { start value } } }
}`;
const DEAD_LETTERS = `query ConsoleDeadLetters { metricDeadLetters(first: 100) {
  id metricId object { type id } category domId amount at reason deadAt } }`;
const FOLD = 'mutation ConsoleFold { foldCounters { folded buckets deadLettered durationMs batches } }';
const RETRY = 'mutation ConsoleRetry($ids: [ID!]!, $d: ID, $m: ID) { retryMetricDeadLetters(ids: $ids, domain: $d, metric: $m) }';
const PURGE = 'mutation ConsolePurge($ids: [ID!]!) { purgeMetricDeadLetters(ids: $ids) }';

function stat(label, value, hint, key) {
  return h('div.stat', { dataset: { stat: key } }, h('span.label', {}, label), h('strong.value', {}, value), hint ? h('span.hint', {}, hint) : null);
}

export default {
  title: 'Ingestion',
  async render(root, _params, ctx) {
    const status = statusLine();
    const stats = h('div.stats', { role: 'group', 'aria-label': 'Pipeline numbers' });
    const folds = h('div.folds');
    const bots = h('div.bots');
    const letters = h('div.dead-letters');
    let botChart = null;
    let botShown = '';
    const selected = new Set();
    const metrics = await metricList(ctx.api);
    const target = select('into', [{ value: '', label: 'their own metric' }, ...metrics.filter((m) => m.kind === 'COUNTER').map((m) => ({ value: m.key, label: `${m.domain} / ${m.ref}` }))], '', { 'aria-label': 'Retry into' });

    async function loadStatus() {
      const { metricsStatus: s, bots: botDomain } = await ctx.api.request(STATUS);
      stats.replaceChildren(
        stat('Inbox', formatNumber(s.inboxRows), 'increments acknowledged, not folded yet', 'inbox'),
        stat('Dead letters', formatNumber(s.deadLetters), 'increments the fold could not fold', 'dead'),
        stat('Group commits', formatNumber(s.flushes), `${formatNumber(s.flushedRows)} rows, ${formatNumber(s.acknowledgedWrites)} calls (this instance)`, 'flushes'),
        stat('Bot rejections', formatNumber(botDomain?.metric?.total ?? 0), 'increments refused: bot User-Agent', 'bots'),
      );
      folds.replaceChildren(
        h('h2', {}, 'Last folds ', h('span.muted', {}, '(this instance)')),
        s.recentFolds.length
          ? h(
              'div.table-wrap',
              { tabindex: '0', role: 'region', 'aria-label': 'Last folds' },
              h(
                'table',
                {},
                h('caption.sr-only', {}, 'Last folds'),
                h('thead', {}, h('tr', {}, ['Finished', 'Folded', 'Buckets', 'Dead-lettered', 'Batches', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
                h(
                  'tbody',
                  {},
                  s.recentFolds.map((f) =>
                    h(
                      'tr',
                      {},
                      h('td', {}, formatTime(f.finishedAt)),
                      h('td.num', {}, formatNumber(f.report.folded)),
                      h('td.num', {}, formatNumber(f.report.buckets)),
                      h('td.num', {}, formatNumber(f.report.deadLettered)),
                      h('td.num', {}, formatNumber(f.report.batches)),
                      h('td.num', {}, `${f.report.durationMs} ms`),
                    ),
                  ),
                ),
              ),
            )
          : h('p.empty', {}, 'No fold has run on this instance since it started (FOLD_CRON, or "Fold now").'),
      );
      const hours = botDomain?.metric?.hours ?? [];
      const fingerprint = JSON.stringify(hours);
      if (fingerprint !== botShown) {
        botShown = fingerprint;
        botChart?.destroy();
        botChart = timeChart({ title: 'Bot rejections per hour (last 24 hours)', series: [{ label: 'rejected', points: hours }], timeZone: localTimeZone, height: 160 });
        bots.replaceChildren(botChart.element);
      }
    }

    async function loadLetters() {
      const { metricDeadLetters } = await ctx.api.request(DEAD_LETTERS);
      const ids = new Set(metricDeadLetters.map((d) => d.id));
      for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
      const count = () => selected.size;
      const update = () => {
        for (const button of letters.querySelectorAll('[data-needs-selection]')) button.disabled = count() === 0;
        const all = letters.querySelector('input[name=all]');
        if (all) all.checked = count() > 0 && count() === metricDeadLetters.length;
        const label = letters.querySelector('.selection');
        if (label) label.textContent = `${count()} selected`;
      };
      const checkbox = (d) =>
        h('input', {
          type: 'checkbox',
          name: 'letter',
          value: d.id,
          checked: selected.has(d.id),
          'aria-label': `Dead letter ${d.id}`,
          on: {
            change: (event) => {
              if (event.target.checked) selected.add(d.id);
              else selected.delete(d.id);
              update();
            },
          },
        });
      const retry = h('button', { type: 'button', dataset: { needsSelection: '1' }, on: { click: () => act('retry') } }, 'Retry selected');
      const purge = confirmButton('Purge selected', () => `Press again to purge ${count()}`, () => act('purge'));
      purge.dataset.needsSelection = '1';
      async function act(kind) {
        const list = [...selected];
        try {
          if (kind === 'retry') {
            const [d, m] = target.value ? target.value.split(' ') : [null, null];
            const { retryMetricDeadLetters } = await ctx.api.request(RETRY, { ids: list, d, m });
            ctx.toast(`${retryMetricDeadLetters} put back into the inbox; the next fold takes them`);
          } else {
            const { purgeMetricDeadLetters } = await ctx.api.request(PURGE, { ids: list });
            ctx.toast(`${purgeMetricDeadLetters} dead letters purged`);
          }
          selected.clear();
          await Promise.all([loadLetters(), loadStatus()]);
        } catch (error) {
          ctx.fail(error);
        }
      }
      letters.replaceChildren(
        h('h2', {}, 'Dead letters'),
        metricDeadLetters.length === 0
          ? h('p.empty', {}, 'None: every increment was folded.')
          : h(
              'div',
              {},
              h('div.toolbar', {}, h('span.selection', {}, ''), retry, h('label.inline', {}, 'into ', target), purge),
              h(
                'div.table-wrap',
                { tabindex: '0', role: 'region', 'aria-label': 'Dead letters' },
                h(
                  'table',
                  {},
                  h('caption.sr-only', {}, 'Dead letters, newest first'),
                  h(
                    'thead',
                    {},
                    h(
                      'tr',
                      {},
                      h('th', { scope: 'col' }, h('input', { type: 'checkbox', name: 'all', 'aria-label': 'Select all', on: { change: (event) => { for (const d of metricDeadLetters) event.target.checked ? selected.add(d.id) : selected.delete(d.id); for (const box of letters.querySelectorAll('input[name=letter]')) box.checked = event.target.checked; update(); } } })),
                      ['Id', 'Reason', 'Metric id', 'Object', 'Category', 'DOM id', 'Amount', 'At', 'Dead since'].map((c) => h('th', { scope: 'col' }, c)),
                    ),
                  ),
                  h(
                    'tbody',
                    {},
                    metricDeadLetters.map((d) =>
                      h(
                        'tr',
                        { dataset: { letter: d.id } },
                        h('td', {}, checkbox(d)),
                        h('td', {}, d.id),
                        h('td', {}, h('span.tag.warn', {}, d.reason)),
                        h('td.num', {}, String(d.metricId)),
                        h('td', {}, objectLabel(d.object)),
                        h('td', {}, d.category ?? ''),
                        h('td', {}, d.domId ?? ''),
                        h('td.num', {}, formatNumber(d.amount)),
                        h('td', {}, formatTime(d.at)),
                        h('td', {}, formatTime(d.deadAt)),
                      ),
                    ),
                  ),
                ),
              ),
            ),
      );
      update();
    }

    const foldButton = h(
      'button.primary',
      {
        type: 'button',
        on: {
          click: async () => {
            foldButton.disabled = true;
            try {
              const { foldCounters: r } = await ctx.api.request(FOLD);
              ctx.toast(`Folded ${r.folded} increments into ${r.buckets} buckets in ${r.durationMs} ms${r.deadLettered ? `; ${r.deadLettered} dead-lettered` : ''}`);
              await Promise.all([loadStatus(), loadLetters()]);
            } catch (error) {
              ctx.fail(error);
            } finally {
              foldButton.disabled = false;
            }
          },
        },
      },
      'Fold now',
    );

    root.append(
      ...heading('Ingestion health', 'Increments are committed to the inbox when acknowledged and folded into statistics by the fold job.'),
      h('div.toolbar', {}, foldButton),
      status.element,
      stats,
      h('div.grid-2', {}, h('section.card', { 'aria-label': 'Folds' }, folds), h('section.card', { 'aria-label': 'Bot rejections' }, bots)),
      h('section.card', { 'aria-label': 'Dead letters' }, letters),
    );
    status.loading();
    try {
      await Promise.all([loadStatus(), loadLetters()]);
      status.done(true);
    } catch (error) {
      status.failed(error);
      ctx.fail(error);
    }
    ctx.onCleanup(() => botChart?.destroy());
    ctx.live(async () => {
      // The dead-letter table is refreshed only while nothing is selected (a refresh must not undo a choice).
      await Promise.all([loadStatus(), selected.size === 0 ? loadLetters() : null]);
      status.done(true);
    });
  },
};
