// trackql demo page: plain ES module, no framework, no build step. The tracked links are counted by
// /trackql.js (one script tag, data-trackql-labels); the feed is the <trackql-feed> web component; the
// charts use the console's uPlot helper; the link counters and page views are live subscriptions (labelStats,
// metric) over graphql-ws. This file wires them to the demo tokens.
import { timeChart } from '/console/chart.js';
import { createClient } from '/vendor/graphql-ws/client.js';

const GRAPHQL = '/graphql';
const DOMAIN = 'demo';
const METRIC = 'clicks';
const PAGEVIEWS = 'pageviews';
const PROJECT = { type: 'Project', id: 'demo-project', label: 'Demo project' };
const REFRESH_MS = 5000;

const $ = (selector) => document.querySelector(selector);
const state = { service: null, user: null, userId: null, userType: 'User' };

function log(message) {
  const line = `${new Date().toLocaleTimeString()}  ${message}`;
  const el = $('#log');
  el.textContent = `${line}\n${el.textContent}`.slice(0, 4000);
}

/** One GraphQL request over HTTP; throws with the server's message on errors. */
async function gql(query, variables = {}, token = null) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(GRAPHQL, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new Error(`${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  return body.data;
}

// ---------------------------------------------------------------- tokens
async function loadTokens() {
  const stored = JSON.parse(localStorage.getItem('trackql-demo-tokens') ?? 'null');
  // The server marks the page when this caller may have the development tokens (a development start, a local caller).
  const response = document.body.dataset.devTokens === 'true' ? await fetch('/demo/tokens').catch(() => null) : null;
  if (response?.ok) return response.json();
  if (stored?.service && stored?.user) return stored;
  const form = $('#token-form');
  form.hidden = false;
  return new Promise((resolve) => {
    form.querySelector('form').addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData(event.target);
      const tokens = { service: String(data.get('service')).trim(), user: String(data.get('user')).trim() };
      localStorage.setItem('trackql-demo-tokens', JSON.stringify(tokens));
      form.hidden = true;
      resolve(tokens);
    });
  });
}

// ---------------------------------------------------------------- tracked links (labels heat map)
const linkIds = () => [...document.querySelectorAll('#tracked-links a')].map((a) => a.id);

function renderLinkCounts(labelStats) {
  const byId = new Map();
  for (const stat of labelStats) byId.set(stat.domId, (byId.get(stat.domId) ?? 0) + stat.count);
  for (const id of linkIds()) {
    const count = byId.get(id) ?? 0;
    const el = document.getElementById(id).querySelector('[data-count]');
    el.textContent = String(count);
    el.title = `${count} click${count === 1 ? '' : 's'}`;
  }
}

function renderPageViews(views) {
  $('#pageviews').textContent = `Page views of this demo (demo/pageviews, sent by /trackql.js): ${views}`;
}

/**
 * The link counters and the page views, live: trackql sends the new values when clicks are committed (at most
 * every LIVE_METRICS_INTERVAL_MS), no polling. Anonymous: both are public. Retries through restarts.
 */
function subscribeCounts() {
  const url = new URL(GRAPHQL, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = createClient({
    url: url.href,
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, 500 * 2 ** Math.min(retries, 5) * (0.5 + Math.random()))),
    onNonLazyError: () => {},
  });
  // A stream that ends with an error (graphql-ws gives the GraphQL errors as a list; e.g. NOT_FOUND when the
  // metric was deleted) is said so and subscribed again a little later (the page registers its metrics again at
  // start); a refusal at the start (a result with errors, then complete) is said and not retried.
  const describe = (error) =>
    Array.isArray(error) ? error.map((e) => e.message).join('; ') : (error?.message ?? (error?.code ? `connection closed (${error.code})` : 'connection closed'));
  const live = (request, render) =>
    client.subscribe(request, {
      next: ({ data, errors }) => (errors?.length ? log(`live counts: ${errors[0].message}`) : render(data)),
      error: (error) => {
        log(`live counts: ${describe(error)}`);
        if (Array.isArray(error)) setTimeout(() => live(request, render), 5000);
      },
      complete: () => {},
    });
  live(
    { query: 'subscription LiveLinkStats($ids: [String!]!) { labelStats(domIds: $ids) { domId label count } }', variables: { ids: linkIds() } },
    (data) => renderLinkCounts(data.labelStats),
  );
  live(
    { query: 'subscription LivePageViews($d: ID!, $m: ID!) { metric(domain: $d, metric: $m) }', variables: { d: DOMAIN, m: PAGEVIEWS } },
    (data) => renderPageViews(data.metric),
  );
}

/** trackql.js has queued the click's labels (capture phase); this also counts demo/clicks over GraphQL. */
async function onLinkClick(event) {
  event.preventDefault();
  const id = event.currentTarget.id;
  window.trackql?.flush(); // send the beacon now rather than within the second
  try {
    const data = await gql('mutation Click($events: [IncrementInput!]!) { increment(events: $events) { accepted } }', {
      events: [{ domain: DOMAIN, metric: METRIC, object: { type: 'Link', id } }],
    });
    log(`clicked #${id}: beacon sent by trackql.js, demo/clicks +${data.increment.accepted}`);
    setTimeout(() => refreshCharts().catch((error) => log(`chart refresh failed: ${error.message}`)), 300);
  } catch (error) {
    log(`click on #${id} failed: ${error.message}`);
  }
}

// ---------------------------------------------------------------- feed (the web component)
const PEOPLE = [
  { type: 'User', id: 'alice', label: 'Alice' },
  { type: 'User', id: 'bob', label: 'Bob' },
  { type: 'User', id: 'carol', label: 'Carol' },
];
const VERBS = ['commented on', 'starred', 'updated', 'shared'];
let logged = 0;

async function logActionAsService() {
  const actor = PEOPLE[logged % PEOPLE.length];
  const verb = VERBS[logged % VERBS.length];
  logged += 1;
  try {
    const data = await gql(
      'mutation Log($input: LogActionInput!) { logAction(input: $input) { id verb } }',
      { input: { actor: { ...actor, type: state.userType }, verb, targets: [PROJECT], data: { from: 'demo page' } } },
      state.service,
    );
    log(`service logged action ${data.logAction.id} (${actor.label} ${verb})`);
  } catch (error) {
    log(`logAction failed: ${error.message}`);
  }
}

function setConnection(status) {
  const el = $('#connection');
  el.textContent = status === 'live' ? 'live' : status === 'connecting' ? 'connecting…' : 'offline';
  el.classList.toggle('on', status === 'live');
  el.classList.toggle('off', status !== 'live');
}

// ---------------------------------------------------------------- metric and charts
async function ensureDemoMetrics() {
  const data = await gql(
    `query DemoCatalog { domain(ref: "${DOMAIN}") { ref clicks: metric(ref: "${METRIC}") { ref } views: metric(ref: "${PAGEVIEWS}") { ref } } }`,
    {},
    state.service,
  );
  if (!data.domain) await gql(`mutation DemoDomain { registerDomain(ref: "${DOMAIN}", name: "Demo page") { ref } }`, {}, state.service);
  if (!data.domain?.clicks) {
    await gql(`mutation DemoClicks { registerMetric(domain: "${DOMAIN}", ref: "${METRIC}", name: "Link clicks", kind: COUNTER, public: true) { ref } }`, {}, state.service);
  }
  if (!data.domain?.views) {
    await gql(`mutation DemoViews { registerMetric(domain: "${DOMAIN}", ref: "${PAGEVIEWS}", name: "Page views", kind: COUNTER, public: true) { ref } }`, {}, state.service);
  }
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const charts = { hour: null, day: null, shown: '' };

async function refreshCharts() {
  const now = Date.now();
  const hourTo = Math.floor(now / HOUR) * HOUR;
  const dayTo = Math.floor(now / DAY) * DAY;
  const data = await gql(
    `query Series($hf: DateTime!, $ht: DateTime!, $df: DateTime!, $dt: DateTime!) {
      domain(ref: "${DOMAIN}") { metric(ref: "${METRIC}") {
        total
        hours: series(period: HOUR, from: $hf, to: $ht) { start value }
        days: series(period: DAY, from: $df, to: $dt) { start value }
      } } }`,
    {
      hf: new Date(hourTo - 47 * HOUR).toISOString(),
      ht: new Date(hourTo).toISOString(),
      df: new Date(dayTo - 29 * DAY).toISOString(),
      dt: new Date(dayTo).toISOString(),
    },
    state.user,
  );
  const metric = data.domain?.metric;
  if (!metric) return;
  $('#total').textContent = `total (folded + inbox): ${metric.total}`;
  const fingerprint = JSON.stringify([metric.hours, metric.days]);
  if (fingerprint === charts.shown) return;
  charts.shown = fingerprint;
  charts.hour?.destroy();
  charts.day?.destroy();
  charts.hour = timeChart({ title: 'Clicks by hour (UTC, last 48 hours)', series: [{ label: 'clicks', points: metric.hours }], timeZone: 'UTC', height: 180 });
  charts.day = timeChart({ title: 'Clicks by day (UTC, last 30 days)', series: [{ label: 'clicks', points: metric.days }], timeZone: 'UTC', height: 180 });
  $('#chart-hour').replaceChildren(charts.hour.element);
  $('#chart-day').replaceChildren(charts.day.element);
}

async function fold() {
  try {
    const data = await gql('mutation Fold { foldCounters { folded buckets deadLettered durationMs } }', {}, state.service);
    const r = data.foldCounters;
    log(`folded ${r.folded} increments into ${r.buckets} buckets in ${r.durationMs} ms`);
    await refreshCharts();
  } catch (error) {
    log(`fold failed: ${error.message}`);
  }
}

/** Sample history over the past six days (increments with `at` in the past), then a fold. */
async function addSampleHistory() {
  const events = [];
  const now = Date.now();
  for (let hoursAgo = 1; hoursAgo < 6 * 24; hoursAgo += 1) {
    const by = Math.round(3 + 3 * Math.sin(hoursAgo / 4) + Math.random() * 3);
    if (by > 0) events.push({ domain: DOMAIN, metric: METRIC, by, at: new Date(now - hoursAgo * HOUR).toISOString(), object: { type: 'Link', id: 'sample' } });
  }
  try {
    const data = await gql('mutation Sample($events: [IncrementInput!]!) { increment(events: $events) { accepted rejected { reason } } }', { events }, state.service);
    log(`sample history: ${data.increment.accepted} accepted, ${data.increment.rejected.length} rejected`);
    await fold();
  } catch (error) {
    log(`sample history failed: ${error.message}`);
  }
}

// ---------------------------------------------------------------- start
async function main() {
  const tokens = await loadTokens();
  Object.assign(state, tokens);
  const me = await gql('query DemoViewer { viewer { id role } }', {}, state.user);
  state.userId = me.viewer.id;
  $('#who').textContent = `as ${me.viewer.id}`;
  $('#feed-user').textContent = me.viewer.id;

  // What /trackql.js sends is anonymous: would the bot filter reject it? Say so instead of counting nothing silently.
  const anonymous = await gql('query DemoBotCheck { viewer { countedAsBot } }');
  $('#bot-notice').hidden = !anonymous.viewer.countedAsBot;

  for (const a of document.querySelectorAll('#tracked-links a')) a.addEventListener('click', onLinkClick);
  $('#log-action').addEventListener('click', logActionAsService);
  $('#fold').addEventListener('click', fold);
  $('#sample').addEventListener('click', addSampleHistory);

  // The demo user follows the demo project (actions on it, as actor, target or related object, enter the feed).
  await gql('mutation Follow($input: TrackInput!) { track(input: $input) { id } }', { input: { object: PROJECT, actorOnly: false } }, state.user);
  await ensureDemoMetrics();

  // The feed component asks the page for its token (on every request and reconnect).
  const feed = $('#feed');
  feed.addEventListener('trackql-feed-change', (event) => setConnection(event.detail.status));
  feed.addEventListener('trackql-feed-error', (event) => log(`feed: ${event.detail.message}`));
  feed.getToken = () => state.user;
  await customElements.whenDefined('trackql-feed');
  await new Promise((resolve) => {
    if (feed.status === 'live') return resolve();
    feed.addEventListener('trackql-feed-change', function ready(event) {
      if (event.detail.status !== 'live') return;
      feed.removeEventListener('trackql-feed-change', ready);
      resolve();
    });
  });
  await feed.refresh();

  subscribeCounts();
  await refreshCharts();
  setInterval(() => refreshCharts().catch((error) => log(`chart refresh failed: ${error.message}`)), REFRESH_MS);
  document.body.dataset.ready = 'true';
  log('ready');
}

main().catch((error) => {
  log(`start failed: ${error.message}`);
  document.body.dataset.ready = 'error';
});
