// trackql demo page: plain ES module, no framework, no build step.
// GraphQL over fetch for queries and mutations, graphql-ws (served from node_modules) for the live feed.
import { createClient } from '/assets/graphql-ws/client.js';

const GRAPHQL = '/graphql';
const DOMAIN = 'demo';
const METRIC = 'clicks';
const PROJECT = { type: 'Project', id: 'demo-project', label: 'Demo project' };
const REFRESH_MS = 5000;

const $ = (selector) => document.querySelector(selector);
const state = { service: null, user: null, userId: null, userType: 'User', feed: new Map(), unread: 0 };

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
  const response = await fetch('/demo/tokens').catch(() => null);
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

async function refreshCounts() {
  const data = await gql('query LinkStats($ids: [String!]!) { labelStats(domIds: $ids) { domId label count } }', { ids: linkIds() });
  const byId = new Map();
  for (const stat of data.labelStats) byId.set(stat.domId, (byId.get(stat.domId) ?? 0) + stat.count);
  for (const id of linkIds()) {
    const count = byId.get(id) ?? 0;
    const el = document.getElementById(id).querySelector('[data-count]');
    el.textContent = String(count);
    el.title = `${count} click${count === 1 ? '' : 's'}`;
  }
}

async function onLinkClick(event) {
  event.preventDefault();
  const id = event.currentTarget.id;
  try {
    // The label, its category and the DOM id, exactly as django-tracker's track('label:category:domId').
    const data = await gql(
      'mutation Click($labels: String!, $events: [IncrementInput!]!) { trackLabels(labels: $labels) { accepted rejected { reason } } increment(events: $events) { accepted } }',
      {
        labels: `tracked-links-${id}:links:${id}`,
        events: [{ domain: DOMAIN, metric: METRIC, object: { type: 'Link', id } }],
      },
    );
    const rejected = data.trackLabels.rejected.map((r) => r.reason);
    log(`clicked #${id}: accepted ${data.trackLabels.accepted}${rejected.length ? `, rejected: ${rejected.join(', ')}` : ''}`);
    await Promise.all([refreshCounts(), refreshCharts()]);
  } catch (error) {
    log(`click on #${id} failed: ${error.message}`);
  }
}

// ---------------------------------------------------------------- feed
const ACTION_FIELDS = 'id verb text timestamp unread groupedCount actor { type id label deleted } targets { type id label deleted }';

function describe(action) {
  if (action.text) return action.text;
  const name = (o) => (o.deleted ? `${o.label ?? o.id} (deleted)` : (o.label ?? `${o.type} ${o.id}`));
  const targets = action.targets.map(name).join(', ');
  return `${name(action.actor)} ${action.verb}${targets ? ` ${targets}` : ''}${action.groupedCount > 1 ? ` (×${action.groupedCount})` : ''}`;
}

function setUnread(count) {
  state.unread = count;
  const badge = $('#unread-badge');
  badge.textContent = String(count);
  badge.classList.toggle('has-unread', count > 0);
  document.title = count > 0 ? `(${count}) trackql demo` : 'trackql demo';
}

function renderAction(action, { prepend = false } = {}) {
  state.feed.set(action.id, action);
  let li = document.querySelector(`#feed li[data-id="${CSS.escape(action.id)}"]`);
  if (!li) {
    li = document.createElement('li');
    li.dataset.id = action.id;
    li.addEventListener('click', () => markRead(action.id));
  }
  li.classList.toggle('unread', action.unread);
  li.replaceChildren(document.createTextNode(describe(action)));
  const time = document.createElement('time');
  time.dateTime = action.timestamp;
  time.textContent = new Date(action.timestamp).toLocaleString();
  li.append(time);
  if (prepend) $('#feed').prepend(li);
  else if (!li.isConnected) $('#feed').append(li);
}

async function loadFeed() {
  const data = await gql(`query Feed { unreadCount feed(first: 20) { edges { node { ${ACTION_FIELDS} } } } }`, {}, state.user);
  $('#feed').replaceChildren();
  for (const edge of data.feed.edges) renderAction(edge.node);
  setUnread(data.unreadCount);
}

async function markRead(id) {
  const action = state.feed.get(id);
  if (!action?.unread) return;
  try {
    await gql('mutation Read($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [id] }, state.user);
  } catch (error) {
    log(`markRead failed: ${error.message}`);
  }
}

async function markAllRead() {
  try {
    const data = await gql('mutation { markAllRead }', {}, state.user);
    log(`marked ${data.markAllRead} read`);
  } catch (error) {
    log(`markAllRead failed: ${error.message}`);
  }
}

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

/** The live part: every feed event carries the exact unread count; ADDED/UPDATED carry the action. */
function subscribeToFeed() {
  const url = new URL(GRAPHQL, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = createClient({
    url: url.toString(),
    connectionParams: { authorization: `Bearer ${state.user}` },
    retryAttempts: Infinity,
    shouldRetry: () => true,
    on: {
      connected: () => setConnection(true),
      closed: () => setConnection(false),
    },
  });
  return new Promise((resolve) => {
    client.subscribe(
      { query: `subscription Feed { feed { kind unreadCount action { ${ACTION_FIELDS} } } }` },
      {
        next: ({ data, errors }) => {
          if (errors?.length) return log(`feed error: ${errors[0].message}`);
          const { kind, action, unreadCount } = data.feed;
          if (action) renderAction(action, { prepend: kind === 'ADDED' || kind === 'UPDATED' });
          if (!action && kind === 'READ') {
            for (const a of state.feed.values()) if (a.unread) renderAction({ ...a, unread: false });
          }
          setUnread(unreadCount);
        },
        error: (error) => log(`feed subscription failed: ${error?.message ?? error}`),
        complete: () => log('feed subscription completed'),
      },
    );
    // graphql-ws acknowledges the connection before subscriptions start; resolve once connected.
    const unsubscribe = client.on('connected', () => {
      unsubscribe();
      resolve(client);
    });
  });
}

function setConnection(on) {
  const el = $('#connection');
  el.textContent = on ? 'live' : 'offline';
  el.classList.toggle('on', on);
  el.classList.toggle('off', !on);
}

// ---------------------------------------------------------------- metric and charts
async function ensureDemoMetric() {
  const data = await gql(`query { domain(ref: "${DOMAIN}") { ref metric(ref: "${METRIC}") { ref } } }`, {}, state.service);
  if (!data.domain) {
    await gql(`mutation { registerDomain(ref: "${DOMAIN}", name: "Demo page") { ref } }`, {}, state.service);
  }
  if (!data.domain?.metric) {
    await gql(
      `mutation { registerMetric(domain: "${DOMAIN}", ref: "${METRIC}", name: "Link clicks", kind: COUNTER, public: true) { ref } }`,
      {},
      state.service,
    );
  }
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;

async function refreshCharts() {
  const now = Date.now();
  const hourTo = Math.floor(now / HOUR) * HOUR + HOUR;
  const hourFrom = hourTo - 48 * HOUR;
  const dayTo = Math.floor(now / DAY) * DAY + DAY;
  const dayFrom = dayTo - 30 * DAY;
  const data = await gql(
    `query Series($hf: DateTime!, $ht: DateTime!, $df: DateTime!, $dt: DateTime!) {
      domain(ref: "${DOMAIN}") { metric(ref: "${METRIC}") {
        total
        hours: series(period: HOUR, from: $hf, to: $ht) { start value }
        days: series(period: DAY, from: $df, to: $dt) { start value }
      } } }`,
    { hf: new Date(hourFrom).toISOString(), ht: new Date(hourTo).toISOString(), df: new Date(dayFrom).toISOString(), dt: new Date(dayTo).toISOString() },
    state.user,
  );
  const metric = data.domain?.metric;
  if (!metric) return;
  $('#total').textContent = `total (folded + inbox): ${metric.total}`;
  drawBars($('#chart-hour'), metric.hours, hourFrom, HOUR, 48, (d) => (d.getUTCHours() % 6 === 0 ? `${d.getUTCHours()}h` : ''));
  drawBars($('#chart-day'), metric.days, dayFrom, DAY, 30, (d, i) => (i % 5 === 0 ? `${d.getUTCDate()}/${d.getUTCMonth() + 1}` : ''));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attributes, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A bar chart with one slot per period from `from` (gaps are zero), a max label and sparse x labels. */
function drawBars(el, points, from, step, slots, label) {
  const values = new Array(slots).fill(0);
  for (const p of points) {
    const i = Math.floor((Date.parse(p.start) - from) / step);
    if (i >= 0 && i < slots) values[i] += p.value;
  }
  // Draw in CSS pixels (no aspect-ratio letterboxing): the viewBox follows the element's width.
  const w = Math.max(320, Math.round(el.getBoundingClientRect().width) || 720);
  const [h, left, bottom, top] = [180, 34, 18, 10];
  el.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const max = Math.max(1, ...values);
  const bw = (w - left) / slots;
  const children = [
    svg('line', { class: 'axis', x1: left, y1: h - bottom, x2: w, y2: h - bottom }),
    svg('text', { x: 2, y: top + 8 }, String(max)),
    svg('text', { x: 2, y: h - bottom }, '0'),
  ];
  values.forEach((v, i) => {
    const bh = ((h - bottom - top) * v) / max;
    const x = left + i * bw;
    const bar = svg('rect', { class: 'bar', x: x + 1, y: h - bottom - bh, width: Math.max(1, bw - 2), height: bh });
    bar.append(svg('title', {}, `${new Date(from + i * step).toISOString()}: ${v}`));
    children.push(bar);
    const text = label(new Date(from + i * step), i);
    if (text) children.push(svg('text', { x, y: h - 4 }, text));
  });
  el.replaceChildren(...children);
  el.dataset.points = String(values.filter((v) => v > 0).length);
}

async function fold() {
  try {
    const data = await gql('mutation { foldCounters { folded buckets deadLettered durationMs } }', {}, state.service);
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
  const me = await gql('query { viewer { id role } }', {}, state.user);
  state.userId = me.viewer.id;
  $('#who').textContent = `as ${me.viewer.id}`;
  $('#feed-user').textContent = me.viewer.id;

  for (const a of document.querySelectorAll('#tracked-links a')) a.addEventListener('click', onLinkClick);
  $('#log-action').addEventListener('click', logActionAsService);
  $('#mark-all-read').addEventListener('click', markAllRead);
  $('#fold').addEventListener('click', fold);
  $('#sample').addEventListener('click', addSampleHistory);

  // The demo user follows the demo project (actions on it, as actor, target or related object, enter the feed).
  await gql('mutation Follow($input: TrackInput!) { track(input: $input) { id } }', { input: { object: PROJECT, actorOnly: false } }, state.user);
  await ensureDemoMetric();
  await subscribeToFeed();
  await Promise.all([loadFeed(), refreshCounts(), refreshCharts()]);
  setInterval(() => {
    refreshCounts().catch((error) => log(`refresh failed: ${error.message}`));
    refreshCharts().catch((error) => log(`chart refresh failed: ${error.message}`));
  }, REFRESH_MS);
  document.body.dataset.ready = 'true';
  log('ready');
}

main().catch((error) => {
  log(`start failed: ${error.message}`);
  document.body.dataset.ready = 'error';
});
