// Domains and metrics: kind, public, open, totals (live); registration and renaming.
import { field, formatNumber, formValues, h, select } from '../dom.js';
import { heading, statusLine } from './common.js';

const CATALOG = `query ConsoleCatalog {
  domains { ref name openMetrics publicMetrics createdAt metrics { ref name kind public allowNegative createdAt total } }
}`;
const REGISTER_DOMAIN = `mutation ConsoleRegisterDomain($ref: ID!, $name: String!, $open: Boolean, $public: Boolean) {
  registerDomain(ref: $ref, name: $name, openMetrics: $open, publicMetrics: $public) { ref }
}`;
const REGISTER_METRIC = `mutation ConsoleRegisterMetric($domain: ID!, $ref: ID!, $name: String!, $kind: MetricKind, $public: Boolean, $negative: Boolean) {
  registerMetric(domain: $domain, ref: $ref, name: $name, kind: $kind, public: $public, allowNegative: $negative) { ref }
}`;
// Renaming is registration with the same ref and a new name (trackstats' `register` updates the name).
const RENAME_DOMAIN = 'mutation ConsoleRenameDomain($ref: ID!, $name: String!) { registerDomain(ref: $ref, name: $name) { ref name } }';
const RENAME_METRIC = 'mutation ConsoleRenameMetric($domain: ID!, $ref: ID!, $name: String!) { registerMetric(domain: $domain, ref: $ref, name: $name) { ref name } }';

/** Domains with more metrics than this start folded (the open `labels` domain has one metric per label). */
const FOLD_OVER = 25;

const yes = (value, text = 'yes') => (value ? h('span.tag.on', {}, text) : h('span.tag', {}, 'no'));

export default {
  title: 'Metrics',
  async render(root, _params, ctx) {
    const status = statusLine();
    const list = h('div.domains');
    const domainSelect = h('select', { name: 'domain', required: true });

    const registerDomain = h(
      'form.inline-form',
      {
        'aria-label': 'Register a domain',
        on: {
          submit: (event) =>
            submit(event, async (v) => {
              await ctx.api.request(REGISTER_DOMAIN, { ref: v.ref, name: v.name, open: v.open, public: v.public });
              ctx.toast(`Domain ${v.ref} registered`);
            }),
        },
      },
      field('Ref', h('input', { name: 'ref', required: true, pattern: '[A-Za-z0-9_][A-Za-z0-9_.\\-\\/]*', maxlength: 64, autocomplete: 'off' })),
      field('Name', h('input', { name: 'name', required: true, maxlength: 256 })),
      h('label.check', {}, h('input', { type: 'checkbox', name: 'open' }), ' open metrics (created on first use)'),
      h('label.check', {}, h('input', { type: 'checkbox', name: 'public' }), ' those public'),
      h('button.primary', { type: 'submit' }, 'Register domain'),
    );
    const registerMetric = h(
      'form.inline-form',
      {
        'aria-label': 'Register a metric',
        on: {
          submit: (event) =>
            submit(event, async (v) => {
              await ctx.api.request(REGISTER_METRIC, { domain: v.domain, ref: v.ref, name: v.name, kind: v.kind, public: v.public, negative: v.negative });
              ctx.toast(`Metric ${v.domain}/${v.ref} registered`);
            }),
        },
      },
      field('Domain', domainSelect),
      field('Ref', h('input', { name: 'ref', required: true, pattern: '[A-Za-z0-9_][A-Za-z0-9_.\\-\\/]*', maxlength: 128, autocomplete: 'off' })),
      field('Name', h('input', { name: 'name', required: true, maxlength: 256 })),
      field('Kind', select('kind', [{ value: 'COUNTER', label: 'Counter' }, { value: 'GAUGE', label: 'Gauge' }], 'COUNTER')),
      h('label.check', {}, h('input', { type: 'checkbox', name: 'public' }), ' public'),
      h('label.check', {}, h('input', { type: 'checkbox', name: 'negative' }), ' allow negative'),
      h('button.primary', { type: 'submit' }, 'Register metric'),
    );

    async function submit(event, action) {
      event.preventDefault();
      const form = event.target;
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await action(formValues(form));
        form.reset();
        await load();
      } catch (error) {
        ctx.fail(error);
      } finally {
        button.disabled = false;
      }
    }

    /** Replaces a name cell by an inline rename form (Enter saves, Escape cancels). */
    function renameForm(cell, current, save) {
      const input = h('input', { name: 'name', value: current, required: true, maxlength: 256, 'aria-label': 'New name' });
      const restore = () => cell.replaceChildren(...cell.original);
      const form = h(
        'form.rename',
        {
          on: {
            submit: async (event) => {
              event.preventDefault();
              try {
                await save(input.value.trim());
                ctx.toast(`Renamed to ${input.value.trim()}`);
                await load();
              } catch (error) {
                ctx.fail(error);
              }
            },
            keydown: (event) => event.key === 'Escape' && restore(),
          },
        },
        input,
        h('button', { type: 'submit' }, 'Save'),
        h('button', { type: 'button', on: { click: restore } }, 'Cancel'),
      );
      cell.original = [...cell.childNodes];
      cell.replaceChildren(form);
      input.select();
      input.focus();
    }

    function renderDomain(domain) {
      const chartLink = (m) => `#/chart?domain=${encodeURIComponent(domain.ref)}&metric=${encodeURIComponent(m.ref)}`;
      const topLink = (m) => `#/top?domain=${encodeURIComponent(domain.ref)}&metric=${encodeURIComponent(m.ref)}`;
      const nameCell = h('span.name', {}, domain.name);
      const rows = domain.metrics.map((m) => {
        const cell = h('td', {}, m.name);
        return h(
          'tr',
          { dataset: { metric: `${domain.ref}/${m.ref}` } },
          h('th', { scope: 'row' }, h('code', {}, m.ref)),
          cell,
          h('td', {}, m.kind === 'COUNTER' ? 'counter' : 'gauge'),
          h('td', {}, yes(m.public)),
          h('td.num', { dataset: { total: `${domain.ref}/${m.ref}` } }, formatNumber(m.total)),
          h(
            'td',
            {},
            h(
              'span.actions',
              {},
              h('a', { href: chartLink(m) }, 'Chart'),
              h('a', { href: topLink(m) }, 'Top'),
              h('button.link', { type: 'button', on: { click: () => renameForm(cell, m.name, (name) => ctx.api.request(RENAME_METRIC, { domain: domain.ref, ref: m.ref, name })) } }, 'Rename'),
            ),
          ),
        );
      });
      const tableEl = rows.length
        ? h(
            'div.table-wrap',
            { tabindex: '0', role: 'region', 'aria-label': `Metrics of ${domain.ref}` },
            h(
              'table',
              {},
              h('caption', {}, `Metrics of ${domain.name}`),
              h('thead', {}, h('tr', {}, ['Ref', 'Name', 'Kind', 'Public', 'Total', ''].map((c) => h('th', { scope: 'col' }, c)))),
              h('tbody', {}, rows),
            ),
          )
        : h('p.empty', {}, 'No metrics yet.');
      const body = domain.metrics.length > FOLD_OVER ? h('details', {}, h('summary', {}, `${domain.metrics.length} metrics`), tableEl) : tableEl;
      const title = h('h2', {}, nameCell, ' ', h('code', {}, domain.ref));
      return h(
        'section.card.domain',
        { 'aria-label': `Domain ${domain.ref}`, dataset: { domain: domain.ref } },
        h(
          'div.card-head',
          {},
          title,
          h('div.tags', {}, domain.openMetrics ? h('span.tag.on', {}, 'open') : h('span.tag', {}, 'closed'), domain.publicMetrics ? h('span.tag.on', {}, 'new metrics public') : null, h('span.tag', {}, `${domain.metrics.length} metric${domain.metrics.length === 1 ? '' : 's'}`)),
          h('button.link', { type: 'button', on: { click: () => renameForm(nameCell, domain.name, (name) => ctx.api.request(RENAME_DOMAIN, { ref: domain.ref, name })) } }, 'Rename domain'),
        ),
        body,
      );
    }

    async function load() {
      status.loading();
      const { domains } = await ctx.api.request(CATALOG);
      const selected = domainSelect.value;
      domainSelect.replaceChildren(...domains.map((d) => h('option', { value: d.ref, selected: d.ref === selected }, `${d.ref} — ${d.name}`)));
      list.replaceChildren(...domains.map(renderDomain));
      status.done(true);
    }

    /** Live: only the totals change in place (forms and open rename fields stay as they are). */
    async function refreshTotals() {
      const { domains } = await ctx.api.request(CATALOG);
      for (const d of domains) {
        for (const m of d.metrics) {
          const cell = list.querySelector(`[data-total="${CSS.escape(`${d.ref}/${m.ref}`)}"]`);
          if (cell) cell.textContent = formatNumber(m.total);
        }
      }
      status.done(true);
    }

    root.append(
      ...heading('Domains and metrics', 'Every domain with its metrics and their totals (folded + still in the inbox). Renaming keeps refs and statistics; your application must then register with the new name.'),
      h('div.forms', {}, h('details.card', {}, h('summary', {}, 'Register a domain'), registerDomain), h('details.card', {}, h('summary', {}, 'Register a metric'), registerMetric)),
      status.element,
      list,
    );
    await load();
    ctx.live(refreshTotals);
  },
};
