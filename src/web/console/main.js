// trackql console: sign in with a service token, then the views below, chosen by the URL hash
// (#/view?param=…), so every state can be bookmarked and the browser's back button works.
import { Api } from './api.js';
import { h } from './dom.js';
import { live } from './live.js';
import chart from './views/chart-view.js';
import feeds from './views/feeds.js';
import health from './views/health.js';
import heatmap from './views/heatmap.js';
import metrics from './views/metrics.js';
import top from './views/top.js';

const VIEWS = { metrics, chart, top, heatmap, health, feeds };
const STORAGE_KEY = 'trackql-console-token';
const GRAPHQL = new URL('/graphql', location.href).href;

const $ = (selector) => document.querySelector(selector);
const state = { api: null, viewer: null, cleanups: [], rendering: 0 };

function toast(message, kind = 'info') {
  const box = $('#toast');
  const item = h(`div.toast.${kind}`, {}, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** Parses "#/name?a=1&b=2". */
function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, query = ''] = hash.split('?');
  return { name: VIEWS[name] ? name : 'metrics', params: new URLSearchParams(query) };
}

/** Goes to a view; params is an object (arrays repeat the key) or URLSearchParams. */
function navigate(name, params = {}) {
  const search = params instanceof URLSearchParams ? params : new URLSearchParams();
  if (!(params instanceof URLSearchParams)) {
    for (const [key, value] of Object.entries(params)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined && v !== null && v !== '') search.append(key, String(v));
    }
  }
  const query = search.toString();
  location.hash = `#/${name}${query ? `?${query}` : ''}`;
}

function cleanup() {
  for (const stop of state.cleanups.splice(0)) {
    try {
      stop();
    } catch {
      // a view's cleanup failing must not block the next view
    }
  }
}

async function render({ focus = true } = {}) {
  if (!state.api) return;
  cleanup();
  const { name, params } = currentRoute();
  const view = VIEWS[name];
  const container = $('#view');
  const ticket = ++state.rendering;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view.title} · trackql console`;
  const root = h(`div.view.view-${name}`);
  container.replaceChildren(root);
  container.dataset.view = name;
  container.dataset.ready = 'false';
  const ctx = {
    api: state.api,
    navigate,
    toast,
    fail: (error) => fail(error),
    live: (refresh, ms) => state.cleanups.push(live(refresh, ms)),
    onCleanup: (stop) => state.cleanups.push(stop),
  };
  try {
    await view.render(root, params, ctx);
  } catch (error) {
    fail(error);
  }
  if (ticket !== state.rendering) return;
  container.dataset.ready = 'true';
  if (focus) root.querySelector('h1')?.focus();
}

/** A failed request: a revoked or expired token signs out; anything else is shown. */
function fail(error) {
  if (error?.code === 'UNAUTHENTICATED') {
    signOut(`Signed out: ${error.message}`);
    return;
  }
  toast(error?.message ?? String(error), 'error');
}

async function signIn(token) {
  const api = new Api(GRAPHQL, token.trim().replace(/^Bearer\s+/i, ''));
  const { viewer } = await api.request('query ConsoleViewer { viewer { id role } }');
  if (viewer.role !== 'SERVICE') throw new Error(`This is a ${viewer.role.toLowerCase()} token: the console needs a service token.`);
  sessionStorage.setItem(STORAGE_KEY, api.token);
  state.api = api;
  state.viewer = viewer;
  $('#sign-in').hidden = true;
  $('#nav').hidden = false;
  $('#session').hidden = false;
  $('#view').hidden = false;
  $('#who').textContent = `service ${viewer.id}`;
  await render({ focus: false });
}

function signOut(message) {
  cleanup();
  sessionStorage.removeItem(STORAGE_KEY);
  state.api = null;
  $('#view').replaceChildren();
  $('#view').hidden = true;
  $('#nav').hidden = true;
  $('#session').hidden = true;
  $('#sign-in').hidden = false;
  const error = $('#sign-in-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  $('#sign-in textarea').focus();
}

/** On a development start, local callers get the page with data-dev-tokens: offer the development token. */
async function offerDevToken() {
  if (document.body.dataset.devTokens !== 'true') return;
  const response = await fetch('/demo/tokens', { credentials: 'omit' }).catch(() => null);
  if (!response?.ok) return;
  const tokens = await response.json();
  const button = $('#dev-sign-in');
  button.hidden = false;
  button.addEventListener('click', () => attempt(tokens.service));
}

async function attempt(token) {
  const error = $('#sign-in-error');
  error.hidden = true;
  try {
    await signIn(token);
  } catch (failure) {
    error.hidden = false;
    error.textContent = failure.message;
  }
}

function main() {
  $('#sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    attempt(new FormData(event.target).get('token') ?? '');
  });
  $('#sign-out').addEventListener('click', () => signOut());
  addEventListener('hashchange', () => render());
  const saved = sessionStorage.getItem(STORAGE_KEY);
  offerDevToken();
  if (saved) {
    signIn(saved).catch((failure) => signOut(failure.message));
  } else {
    signOut();
  }
  document.body.dataset.ready = 'true';
}

main();
