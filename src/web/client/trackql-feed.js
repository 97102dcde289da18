// <trackql-feed>: a user's trackql feed as a web component (no framework, no build step).
//
//   <script type="module" src="https://trackql.example.com/trackql-feed.js"></script>
//   <trackql-feed></trackql-feed>
//   <script>document.querySelector('trackql-feed').getToken = async () => (await fetch('/my/trackql-token')).text();</script>
//
// A badge with the unread count, the list (text, time, unread state), mark read on click, mark all read, live
// over graphql-ws. The token comes from the page: the `getToken` property (a function returning the token or a
// promise of it), or the name of a global function in the `token-callback` attribute. It is asked for on every
// request and every (re)connect, so the page can renew it.
//
// Attributes: endpoint (GraphQL URL; default /graphql where this file was served), page-size (default 20),
// token-callback. Events: trackql-feed-change {unreadCount, status}, trackql-feed-select {action},
// trackql-feed-error {message, code}. Style with ::part(badge | list | item | unread | time | mark-all | more | status).
import { FeedConnection } from './trackql-feed-connection.js';

const STYLE = `
:host { display: block; font: inherit; color: inherit; --trackql-accent: #2563eb; --trackql-unread: #eef4ff; --trackql-muted: #6b7280; }
[hidden] { display: none !important; }
header { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; margin-bottom: 6px; }
h2 { font-size: 1.05em; margin: 0; }
.badge { min-width: 1.6em; padding: 0 .45em; border-radius: 1em; background: #9ca3af; color: #fff; text-align: center; font-size: .85em; line-height: 1.6; }
.badge.has-unread { background: #dc2626; }
.status { width: .6em; height: .6em; border-radius: 50%; background: #f59e0b; display: inline-block; }
.status[data-status="live"] { background: #16a34a; } .status[data-status="offline"] { background: #dc2626; }
.spacer { flex: 1; }
button { font: inherit; cursor: pointer; }
.mark-all, .more { padding: 4px 10px; border-radius: 6px; border: 1px solid #c7cbd3; background: #fff; color: inherit; }
ul { list-style: none; margin: 0; padding: 0; max-height: var(--trackql-feed-height, 360px); overflow: auto; }
li { border-bottom: 1px solid #e5e7eb; }
.item { display: block; width: 100%; text-align: left; padding: 8px 10px 8px 22px; border: 0; background: transparent; color: inherit; position: relative; }
.item.unread { background: var(--trackql-unread); font-weight: 600; }
.item.unread::before { content: ""; position: absolute; left: 8px; top: 1.05em; width: 7px; height: 7px; border-radius: 50%; background: var(--trackql-accent); }
.item:focus-visible, .mark-all:focus-visible, .more:focus-visible { outline: 2px solid var(--trackql-accent); outline-offset: -2px; }
time { display: block; color: var(--trackql-muted); font-size: .8em; font-weight: 400; }
.empty, .error { color: var(--trackql-muted); margin: 8px 0; }
.error { color: #b91c1c; }
`;

const TEMPLATE = `
<style>${STYLE}</style>
<header part="header">
  <h2 part="title"><slot name="title">Notifications</slot></h2>
  <span class="badge" part="badge" role="status" aria-label="0 unread">0</span>
  <span class="status" part="status" data-status="connecting" title="connecting"></span>
  <span class="spacer"></span>
  <button type="button" class="mark-all" part="mark-all">Mark all read</button>
</header>
<p class="error" part="error" role="alert" hidden></p>
<ul part="list" aria-label="Feed"></ul>
<p class="empty" part="empty" hidden>Nothing yet.</p>
<button type="button" class="more" part="more" hidden>Show more</button>
`;

const DEFAULT_ENDPOINT = new URL('/graphql', import.meta.url).href;
const relative = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

function ago(iso) {
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (!relative) return new Date(iso).toLocaleString();
  const steps = [[60, 'second'], [3600, 'minute'], [86400, 'hour'], [604800, 'day'], [2629800, 'week'], [31557600, 'month']];
  let unit = 'year';
  let size = 31557600;
  for (const [limit, name] of steps) {
    if (Math.abs(seconds) < limit) {
      unit = name;
      break;
    }
  }
  const sizes = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800, month: 2629800, year: 31557600 };
  size = sizes[unit];
  return relative.format(Math.round(seconds / size), unit);
}

/** The action's text: its rendered template, else "actor verb targets". */
export function describeAction(action) {
  if (action.text) return action.text;
  const name = (o) => (o.deleted ? `${o.label || o.id} (deleted)` : o.label || `${o.type} ${o.id}`);
  const targets = (action.targets || []).map(name).join(', ');
  const times = action.groupedCount > 1 ? ` (×${action.groupedCount})` : '';
  return `${name(action.actor)} ${action.verb}${targets ? ` ${targets}` : ''}${times}`;
}

export class TrackqlFeedElement extends HTMLElement {
  static observedAttributes = ['endpoint', 'token-callback'];

  #getToken = null;
  #connection = null;
  #actions = new Map();
  #unread = 0;
  #status = 'connecting';
  #endCursor = null;
  #clock = 0;
  #loading = null;
  #loaded = false;
  #started = false;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = TEMPLATE;
    this.$ = (selector) => root.querySelector(selector);
    this.$('.mark-all').addEventListener('click', () => this.markAllRead());
    this.$('.more').addEventListener('click', () => this.#loadMore());
    this.$('ul').addEventListener('click', (event) => {
      const item = event.target.closest('.item');
      if (item) this.#select(item.dataset.id);
    });
  }

  /** The page's token callback: () => token | Promise<token>. Setting it (re)starts the element. */
  get getToken() {
    return this.#getToken;
  }
  set getToken(callback) {
    this.#getToken = typeof callback === 'function' ? callback : null;
    this.#restart();
  }

  get unreadCount() {
    return this.#unread;
  }

  get status() {
    return this.#status;
  }

  get endpoint() {
    return this.getAttribute('endpoint') || DEFAULT_ENDPOINT;
  }

  get pageSize() {
    const size = Number(this.getAttribute('page-size'));
    return Number.isInteger(size) && size > 0 && size <= 100 ? size : 20;
  }

  connectedCallback() {
    // A callback set before this module defined the element sits on the instance: take it over.
    if (Object.prototype.hasOwnProperty.call(this, 'getToken')) {
      const callback = this.getToken;
      delete this.getToken;
      this.#getToken = typeof callback === 'function' ? callback : null;
    }
    this.#clock = setInterval(() => this.#renderTimes(), 60_000);
    this.#started = true;
    this.#restart();
  }

  disconnectedCallback() {
    this.#started = false;
    clearInterval(this.#clock);
    this.#stop();
  }

  attributeChangedCallback(_name, oldValue, value) {
    // Not for the attributes the element is created with (connectedCallback starts it once).
    if (oldValue !== value && this.#started) this.#restart();
  }

  #tokenCallback() {
    if (this.#getToken) return this.#getToken;
    const name = this.getAttribute('token-callback');
    const global = name ? globalThis[name] : null;
    return typeof global === 'function' ? global : null;
  }

  #stop() {
    const connection = this.#connection;
    this.#connection = null;
    if (connection) connection.stop();
  }

  #restart() {
    this.#stop();
    const getToken = this.#tokenCallback();
    if (!this.isConnected || !getToken) return;
    const connection = new FeedConnection({
      endpoint: this.endpoint,
      getToken,
      onEvent: (event) => this.#apply(event),
      onResync: () => this.refresh(),
      onStatus: (status, error) => {
        this.#setStatus(status);
        if (error) this.#error(error);
        // The first page could not be fetched yet (e.g. the page had no token at first): now it can.
        else if (status === 'live' && !this.#loaded) this.refresh();
      },
    });
    this.#connection = connection;
    this.#loaded = false;
    connection.start();
    this.refresh();
  }

  /** Fetches the first page and the unread count again (after a reconnect, or when the page asks). */
  refresh() {
    const connection = this.#connection;
    if (!connection) return Promise.resolve();
    this.#loading = connection
      .page(this.pageSize)
      .then((page) => {
        if (connection !== this.#connection) return;
        this.#actions.clear();
        this.$('ul').replaceChildren();
        for (const action of page.actions) this.#render(action);
        this.#setMore(page);
        this.#setUnread(page.unreadCount);
        this.#loaded = true;
        this.#error(null);
      })
      .catch((error) => this.#error(error));
    return this.#loading;
  }

  async #loadMore() {
    if (!this.#connection || !this.#endCursor) return;
    try {
      const page = await this.#connection.page(this.pageSize, this.#endCursor);
      for (const action of page.actions) this.#render(action);
      this.#setMore(page);
      this.#setUnread(page.unreadCount);
    } catch (error) {
      this.#error(error);
    }
  }

  /** Marks every unread action read (the count and items follow from the server's READ event). */
  async markAllRead() {
    if (!this.#connection) return;
    try {
      await this.#connection.markAllRead();
    } catch (error) {
      this.#error(error);
    }
  }

  async #select(id) {
    const action = this.#actions.get(id);
    if (!action) return;
    this.dispatchEvent(new CustomEvent('trackql-feed-select', { detail: { action }, bubbles: true, composed: true }));
    if (!action.unread || !this.#connection) return;
    try {
      await this.#connection.markRead([id]);
    } catch (error) {
      this.#error(error);
    }
  }

  #apply({ kind, action, unreadCount }) {
    if (action) {
      this.#render(action, kind === 'ADDED' || kind === 'UPDATED');
    } else if (kind === 'READ' || kind === 'REMOVED') {
      // markAllRead (possibly with `before`), or entries that left the feed (untrack, forgotten objects):
      // which items changed is not in the event; ask again.
      this.refresh();
    }
    this.#setUnread(unreadCount);
  }

  #render(action, toTop = false) {
    this.#actions.set(action.id, action);
    const list = this.$('ul');
    let button = list.querySelector(`.item[data-id="${CSS.escape(action.id)}"]`);
    let li = button ? button.parentElement : null;
    if (!li) {
      li = document.createElement('li');
      button = document.createElement('button');
      button.type = 'button';
      button.className = 'item';
      button.dataset.id = action.id;
      li.append(button);
    }
    button.classList.toggle('unread', action.unread);
    button.setAttribute('part', action.unread ? 'item unread' : 'item');
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = describeAction(action);
    const time = document.createElement('time');
    time.setAttribute('part', 'time');
    time.dateTime = action.timestamp;
    time.title = new Date(action.timestamp).toLocaleString();
    time.textContent = ago(action.timestamp);
    button.replaceChildren(text, time);
    button.setAttribute('aria-label', `${action.unread ? 'Unread: ' : ''}${text.textContent}, ${time.textContent}`);
    if (toTop) list.prepend(li);
    else if (!li.isConnected) list.append(li);
    this.$('.empty').hidden = true;
  }

  #renderTimes() {
    for (const time of this.shadowRoot.querySelectorAll('time')) time.textContent = ago(time.dateTime);
  }

  #setMore(page) {
    this.#endCursor = page.hasNextPage ? page.endCursor : null;
    this.$('.more').hidden = !page.hasNextPage;
    this.$('.empty').hidden = this.#actions.size > 0;
  }

  #setUnread(count) {
    this.#unread = count;
    const badge = this.$('.badge');
    badge.textContent = String(count);
    badge.classList.toggle('has-unread', count > 0);
    badge.setAttribute('aria-label', `${count} unread`);
    this.$('.mark-all').disabled = count === 0;
    this.#changed();
  }

  #setStatus(status) {
    this.#status = status;
    const dot = this.$('.status');
    dot.dataset.status = status;
    dot.title = status;
    this.setAttribute('status', status);
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new CustomEvent('trackql-feed-change', { detail: { unreadCount: this.#unread, status: this.#status } }));
  }

  #error(error) {
    const box = this.$('.error');
    box.hidden = !error;
    box.textContent = error ? `Feed unavailable: ${error.message}` : '';
    if (error) this.dispatchEvent(new CustomEvent('trackql-feed-error', { detail: { message: error.message, code: error.code } }));
  }
}

if (!customElements.get('trackql-feed')) customElements.define('trackql-feed', TrackqlFeedElement);
