// Live numbers: the console's views refresh on an interval while the page is visible (a view asks for
// `live(refresh)`). Its views show whole tables (top lists, health, dead letters, heat maps), which the `metric`
// and `labelStats` subscriptions (one total, or the counts of given DOM ids) do not cover; the demo page's link
// counters use those subscriptions.

export const LIVE_INTERVAL_MS = 5000;

/** Calls `refresh` every `ms` while the document is visible; returns a stop function. */
export function live(refresh, ms = LIVE_INTERVAL_MS) {
  let stopped = false;
  let timer = 0;
  let running = false;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible' && !running) {
      running = true;
      try {
        await refresh();
      } catch {
        // The view shows its own error; the next tick tries again.
      } finally {
        running = false;
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
