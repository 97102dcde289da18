// trackql browser tracker: counts clicks on elements marked `data-trackql-labels="label|label:category:domId"`
// (django-tracker's label syntax) and, optionally, page views as a public metric. Events are queued and sent
// in batches with navigator.sendBeacon to trackql's /track endpoint: never blocking the page, no cookies,
// no storage, no identifiers.
//
// Served two ways from this one file:
//   /trackql.mjs  this ES module:  import { createTracker } from 'https://trackql.example.com/trackql.mjs';
//   /trackql.js   a classic script (this file without its final export line, wrapped and started from the
//                 <script> tag's data-* attributes; see src/web/tracker-script.ts):
//                 <script src="https://trackql.example.com/trackql.js" data-pageviews="site:views" defer></script>

/** Beacon bodies stay below this many characters (the server reads at most 8 KiB). */
const MAX_BODY = 6000;
/** Page paths are object ids: at most 256 characters on the server; the query string is never sent. */
const MAX_PATH = 256;

/**
 * A tracker sending to `endpoint` (default: /track on the page's origin).
 * Options: endpoint, pageviews ("domain:metric" of a public counter), flushMs (default 1000),
 * root (the element or document whose clicks are listened to; default document; null: none).
 */
function createTracker(options = {}) {
  const endpoint = String(options.endpoint || new URL('/track', location.href));
  const pageviews = options.pageviews || null;
  const flushMs = options.flushMs == null ? 1000 : Number(options.flushMs);
  let labels = [];
  let pages = [];
  let timer = 0;

  function send(body) {
    // A Blob keeps the CORS-safelisted form type (no preflight); fetch with keepalive where beacons are off.
    const blob = new Blob([body], { type: 'application/x-www-form-urlencoded' });
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) return true;
    } catch (_) {
      // Some browsers throw for a refused beacon; fall back to fetch.
    }
    if (typeof fetch === 'function') {
      fetch(endpoint, { method: 'POST', body: blob, keepalive: true, mode: 'no-cors', credentials: 'omit' }).catch(() => {});
      return true;
    }
    return false;
  }

  function encode(labelList, pageList) {
    const params = new URLSearchParams();
    if (labelList.length) params.set('labels', labelList.join('|'));
    if (pageList.length) {
      params.set('pageview', pageviews);
      for (const page of pageList) params.append('page', page);
    }
    return params.toString();
  }

  /** Sends what is queued now (also called on page hide and by the timer). */
  function flush() {
    clearTimeout(timer);
    timer = 0;
    while (labels.length || pages.length) {
      // As many queued events as fit one beacon body.
      let l = labels.length;
      let p = pages.length;
      while (l + p > 1 && encode(labels.slice(0, l), pages.slice(0, p)).length > MAX_BODY) {
        if (l > 0) l = Math.floor(l / 2);
        else p = Math.floor(p / 2);
      }
      const body = encode(labels.slice(0, l), pages.slice(0, p));
      labels = labels.slice(l);
      pages = pages.slice(p);
      send(body);
    }
  }

  function schedule() {
    if (flushMs <= 0) return flush();
    if (!timer) timer = setTimeout(flush, flushMs);
  }

  /** Queues labels ("a|b:category:domId"). */
  function track(value) {
    for (const label of String(value).split('|')) {
      const trimmed = label.trim();
      if (trimmed) labels.push(trimmed);
    }
    schedule();
  }

  /** Queues a page view of `path` (default: the current path, without query string or hash). */
  function pageview(path) {
    if (!pageviews) return;
    pages.push(String(path || location.pathname).slice(0, MAX_PATH));
    schedule();
  }

  function onClick(event) {
    const target = event.target;
    const element = target && target.closest ? target.closest('[data-trackql-labels]') : null;
    if (element) track(element.getAttribute('data-trackql-labels'));
  }

  function onHide() {
    if (document.visibilityState === 'hidden') flush();
  }

  const root = options.root === undefined ? document : options.root;
  // Capture phase: counted even when a handler of the page stops the event.
  if (root) root.addEventListener('click', onClick, true);
  addEventListener('pagehide', flush);
  document.addEventListener('visibilitychange', onHide);

  function stop() {
    flush();
    if (root) root.removeEventListener('click', onClick, true);
    removeEventListener('pagehide', flush);
    document.removeEventListener('visibilitychange', onHide);
  }

  return { track, pageview, flush, stop, endpoint };
}

/** The classic script's start: options from the <script> tag's data-endpoint and data-pageviews. */
function startFromScript(script) {
  const data = (script && script.dataset) || {};
  const endpoint = data.endpoint || (script && script.src ? new URL('/track', script.src).href : undefined);
  const tracker = createTracker({ endpoint, pageviews: data.pageviews, flushMs: data.flushMs });
  if (data.pageviews) tracker.pageview();
  return tracker;
}

export { createTracker, startFromScript };
